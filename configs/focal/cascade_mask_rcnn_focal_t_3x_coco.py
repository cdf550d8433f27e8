# Cascade Mask R-CNN + FPN with Focal-T, COCO 3x. The Focal README lists this model (87M,
# 770G, 51.5 box AP); its recipe is Swin-det's cascade_mask_rcnn_swin_tiny_..._mstrain_480-800
# _giou_4conv1f_adamw_3x_coco: Shared4Conv1FC box heads (SyncBN) with GIoU loss (weight 10)
# on decoded boxes, multi-scale 480-800 with the DETR-style crop branch, AdamW lr 1e-4,
# wd 0.05 (none on norms and bias tables), 36 epochs, steps (27, 33), 8 GPUs x 2 images.
# Backbone as in mask_rcnn_focal_t_3x_coco.py.
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/models/focal.py',
    './_base_/focal_det_common.py'
]
head_norm_cfg = dict(type='SyncBN', requires_grad=True)


def _box_head(stds):
    return dict(
        type='Shared4Conv1FCBBoxHead', in_channels=256, conv_out_channels=256,
        fc_out_channels=1024, roi_feat_size=7, num_classes=80, norm_cfg=head_norm_cfg,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                        target_stds=stds),
        reg_class_agnostic=False, reg_decoded_bbox=True,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0))


model = dict(
    backbone=dict(_base_.focal_det_backbone, _delete_=True),
    neck=dict(in_channels=[96, 192, 384, 768]),
    roi_head=dict(bbox_head=[
        _box_head([0.1, 0.1, 0.2, 0.2]),
        _box_head([0.05, 0.05, 0.1, 0.1]),
        _box_head([0.033, 0.033, 0.067, 0.067])
    ]))
del _box_head
train_dataloader = dict(dataset=dict(pipeline=_base_.focal_ms_crop_mask_pipeline))
train_cfg = dict(max_epochs=_base_.focal_max_epochs_3x)
param_scheduler = _base_.focal_param_scheduler_3x
optim_wrapper = _base_.focal_optim_wrapper
auto_scale_lr = dict(enable=False, base_batch_size=16)
