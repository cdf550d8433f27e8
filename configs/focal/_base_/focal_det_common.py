# Schedules and pipelines shared by the Focal detection configs, under focal_* names so that
# a config can take them next to an mmdet base (bases may not define the same key twice).
# AdamW lr 1e-4, wd 0.05, no decay on norms and the relative-position bias tables (Swin-det's
# paramwise keys; 'relative_position_bias_table' also matches ..._to_neighbors/_to_windows).
focal_optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }))
# 3x: 36 epochs, steps (27, 33), 1000-iteration linear warm-up (mmdet's Swin 3x)
focal_max_epochs_3x = 36
focal_param_scheduler_3x = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[27, 33], gamma=0.1)
]
# multi-scale training with the DETR-style crop branch (Swin-det 3x), boxes only
_short_sides = [(s, 1333) for s in range(480, 801, 32)]
focal_ms_crop_bbox_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=_short_sides, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
              keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
              allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=_short_sides, keep_ratio=True)]]),
    dict(type='PackDetInputs')
]
# the same with instance masks (mmdet's mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco pipeline)
focal_ms_crop_mask_pipeline = [
    focal_ms_crop_bbox_pipeline[0],
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    *focal_ms_crop_bbox_pipeline[2:]
]
