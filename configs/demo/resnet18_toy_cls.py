# A small ResNet-18 classifier on the toy ImageNet-style set: the foundation's classification run.
_base_ = [
    'mmpretrain::_base_/models/resnet18.py',
    '../_base_/datasets/toy_imagenet.py',
    '../_base_/schedules/toy_cls.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(head=dict(num_classes=4, topk=(1, )))
tta_model = dict(type='AverageClsScoreTTA')  # tools/test.py --tta
default_hooks = dict(logger=dict(type='LoggerHook', interval=5),
                     checkpoint=dict(type='CheckpointHook', interval=1))
randomness = dict(seed=0, deterministic=True)
