# retinanet + DAT-T++, 3x schedule: DAT-Detection configs/dat/rtn_tiny_3x_4n_dp02_lr2.py
# (paper / official README: 49.2 box AP, COCO val2017).
_base_ = ['./_base_/models/retinanet_dat_fpn.py', './_base_/coco_det_ms_crop_3x.py']
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.2, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_t_in1k_backbone.pth')))
