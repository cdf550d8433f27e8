# RetinaNet + FPN with Focal-T, COCO 1x. No official detection code; the paper retrains
# RetinaNet with its Mask R-CNN hyper-parameters: single-scale 1x, AdamW lr 1e-4, wd 0.05
# (none on norms and bias tables), drop path 0.2 (T, S) / 0.3 (B), focal windows
# (15, 13, 9, 7), 8 GPUs x 2 images. FPN on stages 1-3 (P3-P7), as mmdet's Swin RetinaNet.
_base_ = [
    'mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py',
    './_base_/models/focal.py',
    './_base_/focal_det_common.py'
]
model = dict(
    backbone=dict(_base_.focal_det_backbone, _delete_=True, out_indices=(1, 2, 3)),
    neck=dict(in_channels=[192, 384, 768]))
optim_wrapper = _base_.focal_optim_wrapper
auto_scale_lr = dict(enable=False, base_batch_size=16)
