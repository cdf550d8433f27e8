# Semantic FPN + DAT-B++, "80k" (40k iters x 32 images):
# DAT-Segmentation configs/dat/fpn_base_80k_dp07_lr2
# (official README: 50.4 / 51.1 mIoU single-scale / multi-scale+flip).
_base_ = ['./_base_/models/fpn_dat.py', './_base_/ade20k_fpn_40k.py']
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.7, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_b_in1k_backbone.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
