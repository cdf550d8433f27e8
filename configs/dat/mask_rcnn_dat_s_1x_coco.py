# mask rcnn + DAT-S++, 1x schedule: DAT-Detection configs/dat/mrcn_small_1x_4n_dp01_lr4.py
# (paper / official README: 49.8 box / 44.5 mask AP, COCO val2017).
_base_ = ['./_base_/models/mask_rcnn_dat_fpn.py', './_base_/coco_ms_crop.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.1, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_s_in1k_backbone.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
