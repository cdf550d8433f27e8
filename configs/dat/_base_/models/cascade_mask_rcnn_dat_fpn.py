# Cascade Mask R-CNN with a DAT++ backbone (DAT-Detection
# configs/_base_/models/cascade_mask_rcnn_dat_fpn.py): Swin's "giou_4conv1f" box heads, i.e.
# three ConvFCBBoxHead (4 shared convs + 1 fc, SyncBN) with GIoU loss (weight 10) on decoded
# boxes; standard FPN (max-pool P6).
_base_ = 'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
_bbox_head = dict(
    type='ConvFCBBoxHead', num_shared_convs=4, num_shared_fcs=1, in_channels=256,
    conv_out_channels=256, fc_out_channels=1024, roi_feat_size=7, num_classes=80,
    reg_class_agnostic=False, reg_decoded_bbox=True,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
model = dict(
    backbone=dict(
        _delete_=True, type='DAT', arch='tiny', img_size=224, out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0, with_cp=True),
    neck=dict(in_channels=[64, 128, 256, 512]),
    roi_head=dict(bbox_head=[
        dict(_bbox_head, bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                         target_stds=stds))
        for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                     [0.033, 0.033, 0.067, 0.067])
    ]))
