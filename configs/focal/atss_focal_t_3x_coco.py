# ATSS + FPN with Focal-T, COCO 3x (README: 37M, 239G, 49.5 box AP). Swin-det has no ATSS
# config; this is mmdet's ATSS with the Swin-paper recipe for its extra frameworks: multi-scale
# 480-800 with the DETR-style crop branch, AdamW lr 1e-4, wd 0.05 (none on norms and bias
# tables), 36 epochs, steps (27, 33), 8 GPUs x 2 images. FPN on stages 1-3 (as RetinaNet).
_base_ = [
    'mmdet::atss/atss_r50_fpn_1x_coco.py',
    './_base_/focal_det_common.py'
]
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
        out_indices=(1, 2, 3),
        norm_eval=False,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[192, 384, 768], start_level=0, num_outs=5))
train_dataloader = dict(dataset=dict(pipeline={{_base_.focal_ms_crop_bbox_pipeline}}))
train_cfg = dict(max_epochs={{_base_.focal_max_epochs_3x}})
param_scheduler = {{_base_.focal_param_scheduler_3x}}
optim_wrapper = {{_base_.focal_optim_wrapper}}
auto_scale_lr = dict(enable=False, base_batch_size=16)
