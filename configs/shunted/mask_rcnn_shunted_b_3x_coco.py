# Mask R-CNN + FPN with Shunted-B, COCO 3x multi-scale (recipe: mask_rcnn_shunted_s_3x_coco.py).
_base_ = './mask_rcnn_shunted_s_3x_coco.py'
model = dict(backbone=dict(
    arch='b', init_cfg=dict(checkpoint='checkpoints/shunted_b_backbone.pth')))
