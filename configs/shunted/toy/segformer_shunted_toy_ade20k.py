# A tiny Shunted backbone + SegformerHead trained from scratch on the toy ADE20K set for a few
# CPU iterations: the end-to-end smoke run of the family (tests/test_shunted_configs.py).
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    '../../_base_/datasets/toy_ade20k.py',
    'mmseg::_base_/default_runtime.py',
    '../../_base_/schedules/toy_seg.py', '../_base_/models/shunted.py'
]
crop_size = (128, 128)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _base_.shunted_backbone,
        _delete_=True,
        arch=dict(embed_dims=[64, 32, 64, 64], depths=[1, 1, 1, 1], num_heads=[2, 2, 2, 2],
                  mlp_ratios=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1], num_conv=0),
        init_cfg=None),
    decode_head=dict(in_channels=[64, 32, 64, 64], channels=32, num_classes=4))
train_cfg = dict(max_iters=8, val_interval=8)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=8))
randomness = dict(seed=0)
