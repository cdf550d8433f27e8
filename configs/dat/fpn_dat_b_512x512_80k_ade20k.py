# Semantic FPN + DAT-B++, "80k" (40k iters x 32 images):
# DAT-Segmentation configs/dat/fpn_base_80k_dp07_lr2
# (official README: 50.4 / 51.1 mIoU single-scale / multi-scale+flip).
_base_ = ['./_base_/fpn_dat_ade20k.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# converted ImageNet weights: tools/model_converters/dat2mmvit.py SRC DST --backbone-only
pretrained = 'checkpoints/dat_b_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.7,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
