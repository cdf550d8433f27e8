# mask rcnn + DAT-T++, 1x schedule: DAT-Detection configs/dat/mrcn_tiny_1x_4n_dp00_lr4.py
# (paper / official README: 48.7 box / 43.7 mask AP, COCO val2017).
_base_ = ['./_base_/models/mask_rcnn_dat_fpn.py', './_base_/coco_ms_crop.py']
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.0, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_t_in1k_backbone.pth')))
