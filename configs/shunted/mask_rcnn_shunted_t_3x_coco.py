# Mask R-CNN + FPN with Shunted-T, COCO 3x multi-scale (recipe: mask_rcnn_shunted_s_3x_coco.py).
_base_ = './mask_rcnn_shunted_s_3x_coco.py'
model = dict(backbone=dict(
    arch='t', init_cfg=dict(checkpoint='checkpoints/shunted_t_backbone.pth')))
