# DAT-B++ fine-tuned at 384 (official configs/dat_base_384.yaml): 85.9 top-1.
# 30 epochs from the 224 model, no warm-up, lr 2e-5 (per 512 images), wd 1e-8, drop path 0.6,
# per-GPU batch 24; the rpe tables stay built for img_size=224 (as officially) and are
# stretched to the 384 maps. Evaluation: square resize to 384, no crop (TEST.CROP False).
_base_ = ['./_base_/dat_in1k.py']
model = dict(backbone=dict(arch='base', drop_path_rate=0.6), head=dict(in_channels=1024))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(384, 384), keep_ratio=False, backend='pillow',
         interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=24, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=24, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-5, weight_decay=1e-8))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=2e-7, by_epoch=True, begin=0,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=30)
load_from = 'checkpoints/dat_b_in1k.pth'  # converted 224 classifier (tools/model_converters)
