# RetinaNet with a SASA-ResNet-50 (conv stem + attention) backbone, mmdet's standard 3x schedule
# (multi-scale 640-800 training, 36 epochs), for comparison with mmdet's ResNet-50 (39.5 AP).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_ms-640-800-3x_coco.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
checkpoint = 'work_dirs/sasa_r50_in1k/epoch_130.pth'  # noqa: train sasa_r50_in1k.py first
model = dict(
    backbone=dict(
        _delete_=True,
        type='SASAResNet',
        depth=50,
        stem_type='conv',
        attn_cfg=dict(kernel_size=7, num_heads=8),
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
