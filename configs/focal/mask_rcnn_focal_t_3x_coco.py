# Mask R-CNN + FPN with Focal-T, COCO 3x multi-scale: Swin-det's 3x recipe (mmdet's
# mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco: short side 480-800 with the DETR-style random
# crop branch, 36 epochs, steps (27, 33), AdamW lr 1e-4, wd 0.05, none on norms and bias
# tables, 8 GPUs x 2 images) with the Focal backbone of mask_rcnn_focal_t_1x_coco.py.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    './_base_/models/focal.py'
]
model = dict(
    backbone=dict(_base_.focal_det_backbone, _delete_=True),
    neck=dict(in_channels=[96, 192, 384, 768]))
auto_scale_lr = dict(enable=False, base_batch_size=16)
