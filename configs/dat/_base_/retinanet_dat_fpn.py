# RetinaNet with a DAT++ backbone (DAT-Detection configs/_base_/models/retinanet_dat_fpn.py):
# stages 1-3 feed the FPN, P6/P7 from extra convs on C5 ('on_input'). The official backbone
# returns stage 0 too and the FPN skips it with start_level=1; here the backbone returns only
# out_indices=(1, 2, 3) and the FPN starts at 0: the same network and the same neck keys.
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py', './coco_ms_crop.py']
model = dict(
    backbone=dict(
        _delete_=True, type='DAT', arch='tiny', img_size=224, out_indices=(1, 2, 3),
        drop_path_rate=0.0, with_cp=True),
    neck=dict(in_channels=[128, 256, 512], start_level=0, add_extra_convs='on_input',
              num_outs=5))
_ms_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333),
              (672, 1333), (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
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
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=2e-4))
