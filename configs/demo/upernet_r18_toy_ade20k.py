# A small UperNet (mmseg ResNet-18) on the toy ADE20K set: the foundation's segmentation smoke run.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '../_base_/datasets/toy_ade20k.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/toy_seg.py'
]
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
crop_size = (128, 128)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(type='ResNetV1c', depth=18, init_cfg=None),
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=64, num_classes=4),
    auxiliary_head=dict(in_channels=256, channels=32, num_classes=4))
randomness = dict(seed=0)
