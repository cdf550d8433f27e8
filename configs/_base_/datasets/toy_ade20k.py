# Toy ADE20K-layout semantic segmentation (python tools/misc/make_toy_data.py), read by mmseg's
# ADE20KDataset. Its labels 1..4 are ADE20K's first four classes, so after reduce_zero_label the
# four classes below map to 0..3 and label 0 ("other") is ignored, exactly as in ADE20K.
_base_ = 'mmseg::_base_/datasets/ade20k.py'

data_root = 'data/toy_ade20k'
metainfo = dict(classes=('wall', 'building', 'sky', 'floor'),
                palette=[[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50]])
crop_size = (128, 128)
img_scale = (256, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='images/training',
                                  seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
