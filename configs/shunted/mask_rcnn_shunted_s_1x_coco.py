# Mask R-CNN + FPN with Shunted-S, COCO 1x. The authors released no detection code; they say
# they followed PVT v2 (issue #17), so this is whai362/PVT@v2 mask_rcnn_pvt_v2_b2_fpn_1x_coco:
# AdamW lr 2e-4, wd 1e-4, 12 epochs, steps (8, 11), 500-iteration linear warm-up, 8 GPUs x 2
# images, drop path 0.1.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/models/shunted.py'
]
model = dict(
    backbone=dict(_base_.shunted_backbone, _delete_=True),
    neck=dict(in_channels=[64, 128, 256, 512]))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4))
