# cascade mask rcnn + DAT-T++, 3x schedule: DAT-Detection configs/dat/cmrcn_tiny_3x_4n_dp01_lr4.py
# (paper / official README: 53.0 box / 46.0 mask AP, COCO val2017).
_base_ = ['./_base_/cascade_mask_rcnn_dat_fpn.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# ImageNet weights converted with:
#   python tools/model_converters/dat2mmvit.py \
#       dat_pp_tiny_in1k_224.pth checkpoints/dat_t_in1k_backbone.pth --backbone-only
pretrained = 'checkpoints/dat_t_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
# 3x: 36 epochs, steps at 27 and 33 (same warm-up and augmentation as 1x)
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1)
]
