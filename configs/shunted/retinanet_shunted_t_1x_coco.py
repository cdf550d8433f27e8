# RetinaNet + FPN with Shunted-T, COCO 1x (recipe: retinanet_shunted_s_1x_coco.py).
_base_ = './retinanet_shunted_s_1x_coco.py'
model = dict(backbone=dict(
    arch='t', init_cfg=dict(checkpoint='checkpoints/shunted_t_backbone.pth')))
