# RetinaNet with a SASA-ResNet-50 (conv stem + attention) backbone on COCO, the paper's protocol
# (Ramachandran et al. 2019, App. A.3; Table 2 row "Conv-stem + Attention", convolutional FPN and
# heads): 640 x 640 crops after multi-scale jitter, horizontal flip, batch 64 (8 GPUs x 8),
# 150 epochs, lr 0.12 with a 1-epoch linear warm-up then cosine decay, backbone initialised
# from the ImageNet model (configs/sasa/sasa_r50_in1k.py; no official weights exist).
# Not stated in the paper, chosen here: jitter range 0.8-1.25, SGD momentum 0.9, weight decay
# 1e-4, SyncBN trained everywhere in the backbone (no frozen stages, no norm_eval), P6 from P5
# (add_extra_convs='on_output', as Google's TPU RetinaNet), test images resized to a 640 long
# side. See configs/sasa/README.md.
_base_ = [
    './_base_/models/retinanet_sasa_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/default_runtime.py'
]
image_size = (640, 640)
model = dict(
    data_preprocessor=dict(batch_augments=[dict(type='BatchFixedSizePad', size=image_size)]),
    backbone=dict(frozen_stages=-1, norm_cfg=dict(type='SyncBN', requires_grad=True),
                  norm_eval=False),
    neck=dict(add_extra_convs='on_output'))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=8, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 150
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.12, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True, begin=1,
         end=max_epochs, eta_min=0., convert_to_iter_based=True)
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))
# lr 0.12 is for 8 GPUs x 8 images; --auto-scale-lr rescales it for other batch sizes
auto_scale_lr = dict(enable=False, base_batch_size=64)
