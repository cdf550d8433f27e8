# RetinaNet + FPN with Focal-T, COCO 1x. No official detection code; the paper retrains
# RetinaNet with its Mask R-CNN hyper-parameters: single-scale 1x, AdamW lr 1e-4, wd 0.05
# (none on norms and bias tables), drop path 0.2 (T, S) / 0.3 (B), focal windows
# (15, 13, 9, 7), 8 GPUs x 2 images. FPN on stages 1-3 (P3-P7), as mmdet's Swin RetinaNet.
_base_ = [
    'mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py',
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
        out_indices=(1, 2, 3),
        norm_eval=False,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[192, 384, 768]))
optim_wrapper = {{_base_.focal_optim_wrapper}}
auto_scale_lr = dict(enable=False, base_batch_size=16)
