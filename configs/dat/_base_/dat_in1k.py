# DAT++ ImageNet-1k recipe (LeapLabTHU/DAT config.py + configs/dat_*.yaml, main.py):
# AdamW 5e-4 per 512 images, wd 0.05, 300 epochs (20 warm-up), cosine to 5e-6, grad clip 5,
# label smoothing 0.1, Mixup 0.8 / CutMix 1.0, RandAugment m9-mstd0.5, RandomErasing 0.25,
# AMP. Evaluation: square resize to 256x256 (aspect ratio NOT kept, as data/build.py does),
# centre crop 224, bicubic.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    # Mixup/CutMix need num_classes in the model's preprocessor (one-hot labels)
    data_preprocessor=dict(num_classes=1000, mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='DAT', arch='tiny', img_size=224, out_indices=(3, ), out_norm=True,
                  drop_path_rate=0.2),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead', num_classes=1000, in_channels=512,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    # the official reset_parameters() is a no-op: PyTorch default init + trunc-normal tables
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=False, backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
# official per-GPU batch: 128 (T/S), 64 (B)
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    type='AmpOptimWrapper', loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    # no decay on biases, norms and position bias tables (DAT.no_weight_decay_keywords)
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'relative_position_bias_table': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=5e-6, by_epoch=True, begin=20,
         convert_to_iter_based=True)
]
# lr 5e-4 is for a total batch of 512 (scaled linearly by the official code)
auto_scale_lr = dict(base_batch_size=512)
