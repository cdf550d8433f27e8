# cascade mask rcnn + DAT-S++, 3x schedule: DAT-Detection configs/dat/cmrcn_small_3x_4n_dp05_lr4.py
# (paper / official README: 54.2 box / 46.9 mask AP, COCO val2017).
_base_ = ['./_base_/models/cascade_mask_rcnn_dat_fpn.py', './_base_/coco_ms_crop_3x.py']
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.5, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_s_in1k_backbone.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
# trained in fp32 officially (OptimizerHook, no Fp16OptimizerHook)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
