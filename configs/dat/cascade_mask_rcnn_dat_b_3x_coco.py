# cascade mask rcnn + DAT-B++, 3x schedule: DAT-Detection configs/dat/cmrcn_base_3x_8n_dp08_lr4.py
# (paper / official README: 54.5 box / 47.0 mask AP, COCO val2017).
_base_ = ['./_base_/models/cascade_mask_rcnn_dat_fpn.py', './_base_/coco_ms_crop_3x.py']
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.8, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_b_in1k_backbone.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
# trained in fp32 officially (OptimizerHook, no Fp16OptimizerHook)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
# 8 nodes with 1 image per GPU
train_dataloader = dict(batch_size=1)
