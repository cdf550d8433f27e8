# RetinaNet + FPN with Focal-B, COCO 3x (recipe: retinanet_focal_t_3x_coco.py, drop path 0.3).
_base_ = './retinanet_focal_t_3x_coco.py'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.3,
                  init_cfg=dict(checkpoint='checkpoints/focal_b_backbone.pth')),
    neck=dict(in_channels=[256, 512, 1024]))
