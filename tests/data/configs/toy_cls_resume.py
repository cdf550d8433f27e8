# The toy classifier with a deterministic pipeline, so that an interrupted and resumed run can be
# compared bit for bit with an uninterrupted one.
_base_ = '../../../configs/demo/resnet18_toy_cls.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=12, dataset=dict(pipeline=train_pipeline))
train_cfg = dict(max_epochs=2, val_interval=10)
