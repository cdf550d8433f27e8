# UperNet + DAT-T++, 160k: DAT-Segmentation configs/dat/upn_tiny_160k_dp03_lr6
# (official README: 49.4 / 50.3 mIoU single-scale / multi-scale+flip, ADE20K val).
_base_ = ['./_base_/models/upernet_dat.py', './_base_/ade20k_upernet_160k.py']
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.3, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_t_in1k_backbone.pth')))
