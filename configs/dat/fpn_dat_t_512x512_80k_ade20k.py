# Semantic FPN + DAT-T++, "80k" (40k iters x 32 images):
# DAT-Segmentation configs/dat/fpn_tiny_80k_dp04_lr2
# (official README: 48.4 / 48.8 mIoU single-scale / multi-scale+flip).
_base_ = ['./_base_/fpn_dat_ade20k.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# converted ImageNet weights: tools/model_converters/dat2mmvit.py SRC DST --backbone-only
pretrained = 'checkpoints/dat_t_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
