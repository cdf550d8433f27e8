# cascade mask rcnn + DAT-T++, 3x schedule: DAT-Detection configs/dat/cmrcn_tiny_3x_4n_dp01_lr4.py
# (paper / official README: 53.0 box / 46.0 mask AP, COCO val2017).
_base_ = ['./_base_/models/cascade_mask_rcnn_dat_fpn.py', './_base_/coco_ms_crop_3x.py']
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.1, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_t_in1k_backbone.pth')))
