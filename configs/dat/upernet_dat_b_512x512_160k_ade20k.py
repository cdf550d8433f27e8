# UperNet + DAT-B++, 160k: DAT-Segmentation configs/dat/upn_base_160k_dp07_lr6 (fp32)
# (official README: 51.0 / 51.5 mIoU single-scale / multi-scale+flip, ADE20K val).
_base_ = ['./_base_/upernet_dat_ade20k.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# converted ImageNet weights: tools/model_converters/dat2mmvit.py SRC DST --backbone-only
pretrained = 'checkpoints/dat_b_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.7,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
# trained in fp32 officially (OptimizerHook)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.),
        'relative_position_bias_table': dict(decay_mult=0.),
        'rpe_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }))
