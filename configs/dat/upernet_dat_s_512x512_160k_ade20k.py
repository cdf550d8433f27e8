# UperNet + DAT-S++, 160k: DAT-Segmentation configs/dat/upn_small_160k_dp05_lr6
# (official README: 50.5 / 51.2 mIoU single-scale / multi-scale+flip, ADE20K val).
_base_ = ['./_base_/upernet_dat_ade20k.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# converted ImageNet weights: tools/model_converters/dat2mmvit.py SRC DST --backbone-only
pretrained = 'checkpoints/dat_s_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.5,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
