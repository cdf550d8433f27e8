# Sparse R-CNN + FPN with Focal-T, COCO 3x (README: 111M, 196G, 49.0 box AP): mmdet's
# 300-proposal Sparse R-CNN with the DETR-style multi-scale crop augmentation, 36 epochs,
# steps (27, 33), and the Swin-paper optimiser for extra frameworks (AdamW lr 1e-4, wd 0.05,
# none on norms and bias tables), keeping mmdet's gradient clipping (max norm 1).
_base_ = [
    'mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_300-proposals_crop-ms-480-800-3x_coco.py',
    './_base_/models/focal.py',
    './_base_/focal_det_common.py'
]
model = dict(
    backbone=dict(_base_.focal_det_backbone, _delete_=True),
    neck=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(_base_.focal_optim_wrapper, clip_grad=dict(max_norm=1, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
