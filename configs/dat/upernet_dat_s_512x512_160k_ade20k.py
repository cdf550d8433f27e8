# UperNet + DAT-S++, 160k: DAT-Segmentation configs/dat/upn_small_160k_dp05_lr6
# (official README: 50.5 / 51.2 mIoU single-scale / multi-scale+flip, ADE20K val).
_base_ = ['./_base_/models/upernet_dat.py', './_base_/ade20k_upernet_160k.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.5, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_s_in1k_backbone.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
