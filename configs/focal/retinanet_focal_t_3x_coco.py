# RetinaNet + FPN with Focal-T, COCO 3x: the 1x config with multi-scale training (short side
# 480-800 plus the DETR-style crop branch, as Swin-det's 3x), 36 epochs, steps (27, 33).
_base_ = './retinanet_focal_t_1x_coco.py'
train_dataloader = dict(dataset=dict(pipeline=_base_.focal_ms_crop_bbox_pipeline))
train_cfg = dict(max_epochs=_base_.focal_max_epochs_3x)
param_scheduler = _base_.focal_param_scheduler_3x
