# UperNet + DAT++ (DAT-Segmentation configs/dat/upn_*): auxiliary FCN head on stage 2,
# activation checkpointing.
_base_ = 'mmseg::_base_/models/upernet_r50.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    pretrained=None,
    backbone=dict(
        _delete_=True, type='DAT', arch='tiny', img_size=224, out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3, with_cp=True),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))
