# Mask R-CNN + FPN with Focal-T, COCO 1x. The authors released no detection code; they say
# they follow Swin-Transformer-Object-Detection, and the paper states: single-scale 1x
# (800 x 1333), AdamW lr 1e-4, wd 0.05, drop path 0.2 (T, S) / 0.3 (B), focal windows
# increased to (15, 13, 9, 7) with the pooled-level bias tables up-sampled bilinearly
# (done on load by the backbone). Batch 16 = 8 GPUs x 2 images, steps (8, 11), no weight
# decay on norms and bias tables (Swin's paramwise keys, which also match the focal tables).
# Structure: the ImageNet (224) one, i.e. stage 3 without neighbour expansion (see README).
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    './_base_/models/focal.py'
]
model = dict(
    backbone=dict(_base_.focal_det_backbone, _delete_=True),
    neck=dict(in_channels=[96, 192, 384, 768]))
auto_scale_lr = dict(enable=False, base_batch_size=16)
