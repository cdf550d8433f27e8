# ATSS + FPN with Focal-T, COCO 3x (README: 37M, 239G, 49.5 box AP). Swin-det has no ATSS
# config; this is mmdet's ATSS with the Swin-paper recipe for its extra frameworks: multi-scale
# 480-800 with the DETR-style crop branch, AdamW lr 1e-4, wd 0.05 (none on norms and bias
# tables), 36 epochs, steps (27, 33), 8 GPUs x 2 images. FPN on stages 1-3 (as RetinaNet).
_base_ = [
    'mmdet::atss/atss_r50_fpn_1x_coco.py',
    './_base_/models/focal.py',
    './_base_/focal_det_common.py'
]
model = dict(
    backbone=dict(_base_.focal_det_backbone, _delete_=True, out_indices=(1, 2, 3)),
    neck=dict(in_channels=[192, 384, 768], start_level=0, num_outs=5))
train_dataloader = dict(dataset=dict(pipeline=_base_.focal_ms_crop_bbox_pipeline))
train_cfg = dict(max_epochs=_base_.focal_max_epochs_3x)
param_scheduler = _base_.focal_param_scheduler_3x
optim_wrapper = _base_.focal_optim_wrapper
auto_scale_lr = dict(enable=False, base_batch_size=16)
