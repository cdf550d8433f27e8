# Mask R-CNN + FPN with Focal-S, COCO 3x (recipe: mask_rcnn_focal_t_3x_coco.py, drop path 0.2).
_base_ = './mask_rcnn_focal_t_3x_coco.py'
model = dict(backbone=dict(
    arch='small', drop_path_rate=0.2,
    init_cfg=dict(checkpoint='checkpoints/focal_s_backbone.pth')))
