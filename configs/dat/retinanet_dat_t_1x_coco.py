# retinanet + DAT-T++, 1x schedule: DAT-Detection configs/dat/rtn_tiny_1x_4n_dp00_lr2.py
# (paper / official README: 46.8 box AP, COCO val2017).
_base_ = ['./_base_/models/retinanet_dat_fpn.py', './_base_/coco_det_ms_crop.py']
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.0, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_t_in1k_backbone.pth')))
