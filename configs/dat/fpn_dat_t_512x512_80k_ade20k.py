# Semantic FPN + DAT-T++, "80k" (40k iters x 32 images):
# DAT-Segmentation configs/dat/fpn_tiny_80k_dp04_lr2
# (official README: 48.4 / 48.8 mIoU single-scale / multi-scale+flip).
_base_ = ['./_base_/models/fpn_dat.py', './_base_/ade20k_fpn_40k.py']
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.4, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_t_in1k_backbone.pth')))
