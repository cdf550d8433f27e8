# cascade mask rcnn + DAT-B++, 3x schedule: DAT-Detection configs/dat/cmrcn_base_3x_8n_dp08_lr4.py
# (paper / official README: 54.5 box / 47.0 mask AP, COCO val2017).
_base_ = ['./_base_/cascade_mask_rcnn_dat_fpn.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# ImageNet weights converted with:
#   python tools/model_converters/dat2mmvit.py \
#       dat_pp_base_in1k_224.pth checkpoints/dat_b_in1k_backbone.pth --backbone-only
pretrained = 'checkpoints/dat_b_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.8,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
# trained in fp32 officially (OptimizerHook, no Fp16OptimizerHook)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.),
        'relative_position_bias_table': dict(decay_mult=0.),
        'rpe_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }))
# 8 nodes with 1 image per GPU
train_dataloader = dict(batch_size=1)
# 3x: 36 epochs, steps at 27 and 33 (same warm-up and augmentation as 1x)
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1)
]
