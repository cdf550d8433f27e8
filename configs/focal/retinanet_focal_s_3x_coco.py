# RetinaNet + FPN with Focal-S, COCO 3x (recipe: retinanet_focal_t_3x_coco.py, drop path 0.2).
_base_ = './retinanet_focal_t_3x_coco.py'
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.2,
                  init_cfg=dict(checkpoint='checkpoints/focal_s_backbone.pth')))
