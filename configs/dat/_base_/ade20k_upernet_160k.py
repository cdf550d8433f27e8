# UperNet + DAT++ recipe on ADE20K, 160k iterations (DAT-Segmentation
# configs/dat/upn_*_160k_*_lr6.py): AdamW lr 6e-5, wd 0.01 (no decay on norms / position bias
# tables), 1500-iteration linear warm-up (ratio 1e-6) then poly (power 1, min 0), 8 GPUs x 2
# images, fp16 for T/S (Fp16OptimizerHook -> AmpOptimWrapper).
_base_ = [
    'mmseg::_base_/datasets/ade20k.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py'
]
optim_wrapper = dict(
    _delete_=True, type='AmpOptimWrapper', loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.),
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False)
]
train_dataloader = dict(batch_size=2)
