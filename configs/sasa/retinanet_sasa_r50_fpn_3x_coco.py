# RetinaNet with a SASA-ResNet-50 (conv stem + attention) backbone, mmdet's standard 3x schedule
# (retinanet_r50_fpn_ms-640-800-3x_coco.py: multi-scale 640-800 training, 36 epochs), for
# comparison with mmdet's ResNet-50 (39.5 AP).
_base_ = ['./_base_/models/retinanet_sasa_r50_fpn.py', 'mmdet::common/ms_3x_coco.py']
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
