# Semantic FPN + DAT-S++, "80k" (40k iters x 32 images):
# DAT-Segmentation configs/dat/fpn_small_80k_dp04_lr2
# (official README: 49.9 / 50.7 mIoU single-scale / multi-scale+flip).
_base_ = ['./_base_/models/fpn_dat.py', './_base_/ade20k_fpn_40k.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.4, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_s_in1k_backbone.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
