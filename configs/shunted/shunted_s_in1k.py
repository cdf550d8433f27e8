# Shunted-S on ImageNet-1k: the official recipe (OliverRensu/Shunted-Transformer main.py and
# configs/Shunted/shunted_S.py): 300 epochs, 8 GPUs x 128 images, AdamW lr 1e-3 (5e-4 * 1024 / 512),
# wd 0.05 (none on norms/biases), cosine to 1e-5 after 5 warm-up epochs, RandAugment, Mixup 0.8 /
# CutMix 1.0, label smoothing 0.1, random erasing 0.25, drop path 0.2; bicubic 256 -> 224 eval.
# Official weights: python tools/model_converters/shunted2mmvit.py ckpt_s.pth shunted_s_in1k.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ShuntedTransformer', arch='s', drop_path_rate=0.2, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5)
]
