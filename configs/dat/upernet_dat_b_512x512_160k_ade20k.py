# UperNet + DAT-B++, 160k: DAT-Segmentation configs/dat/upn_base_160k_dp07_lr6 (fp32)
# (official README: 51.0 / 51.5 mIoU single-scale / multi-scale+flip, ADE20K val).
_base_ = ['./_base_/models/upernet_dat.py', './_base_/ade20k_upernet_160k.py']
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.7, init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/dat_b_in1k_backbone.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
# trained in fp32 officially (OptimizerHook)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer={{_base_.optim_wrapper.optimizer}},
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
