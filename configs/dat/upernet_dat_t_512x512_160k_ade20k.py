# UperNet + DAT-T++, 160k: DAT-Segmentation configs/dat/upn_tiny_160k_dp03_lr6
# (official README: 49.4 / 50.3 mIoU single-scale / multi-scale+flip, ADE20K val).
_base_ = ['./_base_/upernet_dat_ade20k.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# converted ImageNet weights: tools/model_converters/dat2mmvit.py SRC DST --backbone-only
pretrained = 'checkpoints/dat_t_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.3,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
