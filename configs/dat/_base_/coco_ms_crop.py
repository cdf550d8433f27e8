# COCO recipe of LeapLabTHU/DAT-Detection (mmdet 2.26) in mmdet 3.x terms, shared by the DAT++
# RetinaNet / Mask R-CNN / Cascade Mask R-CNN configs, 1x and 3x alike:
# DETR-style multi-scale + crop augmentation, AdamW (wd 0.05, no decay on norms and position
# bias tables), 500-iteration linear warm-up (ratio 0.001), 1x step decay, 2 images per GPU,
# fp16 (Fp16OptimizerHook -> AmpOptimWrapper) unless a config says otherwise.
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
_ms_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333),
              (672, 1333), (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)],
        [
            dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
                 keep_ratio=True),
            dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                 allow_negative_crop=True),
            dict(type='RandomChoiceResize', scales=_ms_scales, keep_ratio=True)
        ]
    ]),
    dict(type='PackDetInputs')
]
train_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    type='AmpOptimWrapper', loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=4e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.),
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11],
         gamma=0.1)
]
# the 3x schedule of the *_3x recipes: 36 epochs, steps at 27 and 33, the same warm-up
_param_scheduler_3x = [
    param_scheduler[0],
    dict(param_scheduler[1], end=36, milestones=[27, 33])
]
# "4n": 4 nodes of A100s with 2 images per GPU; the GPU count per node is not published
auto_scale_lr = dict(enable=False, base_batch_size=64)
