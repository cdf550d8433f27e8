# Mask R-CNN + FPN with Shunted-T, COCO 1x (recipe: mask_rcnn_shunted_s_1x_coco.py).
_base_ = './mask_rcnn_shunted_s_1x_coco.py'
model = dict(backbone=dict(
    arch='t', init_cfg=dict(checkpoint='checkpoints/shunted_t_backbone.pth')))
