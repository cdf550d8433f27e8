# Focal-T on ImageNet-1k, the official recipe (microsoft/Focal-Transformer config.py, main.py,
# configs/focal_tiny_patch4_window7_224.yaml): 300 epochs, 8 GPUs x 128 images, AdamW
# lr 1e-3 (5e-4 * 1024 / 512), wd 0.05 (none on norms, biases and the three bias-table
# families), 20 warm-up epochs from 1e-6, cosine to 1e-5, grad clip 5.0, RandAugment m9,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, random erasing 0.25, drop path 0.2;
# bicubic resize 256 -> centre crop 224 for evaluation.
# Official weights: python tools/model_converters/focal2mmvit.py focal-tiny-is224-ws7.pth \
#     checkpoints/focal_t_in1k.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
    './_base_/models/focal.py'
]
model = dict(
    type='ImageClassifier',
    backbone=dict(_base_.focal_backbone, out_indices=(3, )),  # norm3: the official final norm
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(custom_keys={
        'relative_position_bias_table': dict(decay_mult=0.0),  # also _to_neighbors/_to_windows
    }))
