# Semantic FPN + DAT++ (DAT-Segmentation configs/dat/fpn_*); no activation checkpointing.
_base_ = 'mmseg::_base_/models/fpn_r50.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    pretrained=None,
    backbone=dict(
        _delete_=True, type='DAT', arch='tiny', img_size=224, out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4, with_cp=False),
    neck=dict(in_channels=[64, 128, 256, 512]),
    decode_head=dict(num_classes=150))
