# Mask R-CNN + FPN with Focal-T, COCO 3x multi-scale: Swin-det's 3x recipe (mmdet's
# mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco: short side 480-800 with the DETR-style random
# crop branch, 36 epochs, steps (27, 33), AdamW lr 1e-4, wd 0.05, none on norms and bias
# tables, 8 GPUs x 2 images) with the Focal backbone of mask_rcnn_focal_t_1x_coco.py.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
checkpoint = 'checkpoints/focal_t_backbone.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='FocalTransformer',
        arch='tiny',
        pretrain_img_size=224,
        focal_levels=(2, 2, 2, 2),
        focal_windows=(15, 13, 9, 7),
        expand_sizes=(3, 3, 3, 3),
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        norm_eval=False,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[96, 192, 384, 768]))
auto_scale_lr = dict(enable=False, base_batch_size=16)
