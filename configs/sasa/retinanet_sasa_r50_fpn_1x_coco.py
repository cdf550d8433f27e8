# RetinaNet with a SASA-ResNet-50 (conv stem + attention) backbone, mmdet's standard 1x schedule
# (1333 x 800, 12 epochs, SGD lr 0.01 for 8 GPUs x 2 images, frozen stem + stage 1, BN in eval
# mode), for comparison with the other backbones of mmvit_plugins and mmdet's ResNet-50 (36.5 AP).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
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
