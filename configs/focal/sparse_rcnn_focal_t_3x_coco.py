# Sparse R-CNN + FPN with Focal-T, COCO 3x (README: 111M, 196G, 49.0 box AP): mmdet's
# 300-proposal Sparse R-CNN with the DETR-style multi-scale crop augmentation, 36 epochs,
# steps (27, 33), and the Swin-paper optimiser for extra frameworks (AdamW lr 1e-4, wd 0.05,
# none on norms and bias tables), keeping mmdet's gradient clipping (max norm 1).
_base_ = [
    'mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_300-proposals_crop-ms-480-800-3x_coco.py',
    './_base_/focal_det_common.py'
]
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
checkpoint = 'checkpoints/focal_t_backbone.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='FocalTransformer',
        arch='tiny',
        pretrain_img_size=224,
        focal_levels=(2, 2, 2, 2),
        focal_windows=(15, 13, 9, 7),
        expand_sizes=(3, 3, 3, 3),
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        norm_eval=False,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }),
    clip_grad=dict(max_norm=1, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
