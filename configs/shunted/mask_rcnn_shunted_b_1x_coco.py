# Mask R-CNN + FPN with Shunted-B, COCO 1x (recipe: mask_rcnn_shunted_s_1x_coco.py).
_base_ = './mask_rcnn_shunted_s_1x_coco.py'
model = dict(backbone=dict(
    arch='b', init_cfg=dict(checkpoint='checkpoints/shunted_b_backbone.pth')))
