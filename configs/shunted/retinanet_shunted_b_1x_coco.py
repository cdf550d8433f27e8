# RetinaNet + FPN with Shunted-B, COCO 1x (recipe: retinanet_shunted_s_1x_coco.py).
_base_ = './retinanet_shunted_s_1x_coco.py'
model = dict(backbone=dict(
    arch='b', init_cfg=dict(checkpoint='checkpoints/shunted_b_backbone.pth')))
