# Toy ImageNet-style classification folders (python tools/misc/make_toy_data.py), read by
# mmpretrain's CustomDataset with ImageNet-style meta/{train,val}.txt lists.
dataset_type = 'CustomDataset'
data_root = 'data/toy_imagenet'
data_preprocessor = dict(
    num_classes=4,
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
# test-time augmentation (tools/test.py --tta): original and horizontally flipped crops
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='TestTimeAug',
         transforms=[[dict(type='RandomFlip', prob=0.), dict(type='RandomFlip', prob=1.)],
                     [dict(type='PackInputs')]]),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='meta/train.txt',
                 data_prefix='train', classes=('square', 'circle', 'triangle', 'star'),
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='meta/val.txt',
                 data_prefix='val', classes=('square', 'circle', 'triangle', 'star'),
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
