# RetinaNet + FPN with Shunted-S, COCO 1x. PVT v2's retinanet_pvt_v2_b2_fpn_1x_coco recipe:
# FPN on stages 1-3 (start_level=1) with extra convs on the input, AdamW lr 1e-4, wd 1e-4,
# 12 epochs, steps (8, 11), 8 GPUs x 2 images, drop path 0.1. All four stages are computed
# (stage 0 feeds stage 1).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/models/shunted.py'
]
model = dict(
    backbone=dict(_base_.shunted_backbone, _delete_=True),
    neck=dict(in_channels=[64, 128, 256, 512], start_level=1, add_extra_convs='on_input',
              num_outs=5))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4))
