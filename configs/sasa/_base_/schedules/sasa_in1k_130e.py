# The paper's ImageNet recipe (Ramachandran et al. 2019, App. A.2): 130 epochs, SGD with Nesterov
# momentum, lr 1.6 for a 4096-image batch (0.1 x 4096 / 256; here 32 GPUs x 128), 10-epoch linear
# warm-up then cosine decay, EMA of the weights with decay 0.9999, 224 x 224 Inception crops +
# flip. Not stated in the paper, chosen here: momentum 0.9, weight decay 1e-4, no label
# smoothing, BatchNorm momentum 0.1 (the paper's BN decay 0.9999 is set with
# --cfg-options model.backbone.norm_cfg.momentum=1e-4), resize 256 -> centre crop 224 for
# evaluation.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=1.6, momentum=0.9, nesterov=True, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=120, by_epoch=True, begin=10, end=130,
         eta_min=0., convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=130, val_interval=5)
val_cfg = dict()
test_cfg = dict()
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
# lr 1.6 is for 32 GPUs x 128 images; --auto-scale-lr rescales it for other batch sizes
auto_scale_lr = dict(base_batch_size=4096)
