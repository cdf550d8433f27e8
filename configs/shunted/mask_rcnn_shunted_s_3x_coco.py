# Mask R-CNN + FPN with Shunted-S, COCO 3x multi-scale. PVT v2's
# mask_rcnn_pvt_v2_b2_fpn_3x_mstrain recipe, which is mmdet's Swin 3x recipe: DETR-style
# multi-scale resize / crop augmentation, AdamW lr 1e-4, wd 0.05 (none on norms), 36 epochs,
# steps (27, 33). Same backbone as the 1x config.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py', './_base_/models/shunted.py'
]
model = dict(
    backbone=dict(_base_.shunted_backbone, _delete_=True),
    neck=dict(in_channels=[64, 128, 256, 512]))
