# mask rcnn + DAT-S++, 3x schedule: DAT-Detection configs/dat/mrcn_small_3x_4n_dp05_lr4.py
# (paper / official README: 51.2 box / 45.7 mask AP, COCO val2017).
_base_ = ['./_base_/models/mask_rcnn_dat_fpn.py', './_base_/coco_ms_crop_3x.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.5, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_s_in1k_backbone.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
