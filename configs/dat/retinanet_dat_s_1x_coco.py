# retinanet + DAT-S++, 1x schedule: DAT-Detection configs/dat/rtn_small_1x_4n_dp01_lr2.py
# (paper / official README: 48.3 box AP, COCO val2017).
_base_ = ['./_base_/models/retinanet_dat_fpn.py', './_base_/coco_det_ms_crop.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.1, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_s_in1k_backbone.pth')),
    neck=dict(in_channels=[192, 384, 768]))
