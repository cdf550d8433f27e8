# RetinaNet with a SASA-ResNet-50 (conv stem + attention) backbone, mmdet's standard 1x schedule
# (retinanet_r50_fpn_1x_coco.py: 1333 x 800, 12 epochs, SGD lr 0.01 for 8 GPUs x 2 images), for
# comparison with the other backbones of mmvit_plugins and mmdet's ResNet-50 (36.5 AP).
_base_ = [
    './_base_/models/retinanet_sasa_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    'mmdet::retinanet/retinanet_tta.py'
]
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
