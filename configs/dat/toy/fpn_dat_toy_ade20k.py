# A tiny DAT++ backbone (N and D blocks in every stage) + Semantic FPN trained from scratch on
# the toy ADE20K set for a few CPU iterations: the end-to-end smoke run of the family
# (tests/test_dat_configs.py).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    '../../_base_/datasets/toy_ade20k.py',
    'mmseg::_base_/default_runtime.py',
    '../../_base_/schedules/toy_seg.py'
]
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
crop_size = (128, 128)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='DAT',
        arch=dict(stem_channels=16, embed_dims=[16, 32, 64, 64], depths=[2, 2, 2, 2],
                  num_heads=[1, 2, 2, 2], num_groups=[1, 1, 2, 2], mlp_ratio=2,
                  stage_specs=[['N', 'D'], ['N', 'D'], ['N', 'D'], ['D', 'D']]),
        img_size=128,
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 64], out_channels=32),
    decode_head=dict(in_channels=[32, 32, 32, 32], channels=32, num_classes=4))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'relative_position_bias_table': dict(decay_mult=0.),
                                    'norm': dict(decay_mult=0.)}))
train_cfg = dict(max_iters=8, val_interval=8)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=8))
randomness = dict(seed=0)
