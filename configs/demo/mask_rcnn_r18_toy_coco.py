# `make demo`: a small Mask R-CNN trained from scratch for a few CPU minutes on the toy COCO set.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/toy_coco_instance.py',
    '../_base_/schedules/toy_det.py',
    'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None,
                  norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=4),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=64, num_classes=4)))
default_hooks = dict(logger=dict(type='LoggerHook', interval=6),
                     checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=1))
# 12 epochs of 24 iterations: about 3 minutes on 2 CPU cores
train_cfg = dict(max_epochs=12, val_interval=12)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=12, T_max=12, eta_min=1e-5)
]
randomness = dict(seed=0)
