# RetinaNet (mmdet's retinanet_r50_fpn.py) with a SASA-ResNet-50 backbone: conv stem, 7 x 7
# attention with 8 heads in all four stages, initialised from the ImageNet model of
# sasa_r50_in1k.py (no official weights exist). Fine-tuning defaults as mmdet's ResNet: frozen
# stem and layer1, BN in eval mode.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
checkpoint = 'work_dirs/sasa_r50_in1k/epoch_130.pth'  # noqa: train sasa_r50_in1k.py first
model = dict(
    backbone=dict(
        _delete_=True,
        type='SASAResNet',
        depth=50,
        stem_type='conv',
        stage_with_attn=(True, True, True, True),
        attn_cfg=dict(kernel_size=7, num_heads=8),
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
# The full-attention backbone (attention stem) of the *_full_* detection configs, as overrides:
#   model = dict(backbone=_base_.full_attention_backbone)
full_attention_backbone = dict(
    stem_type='attention',
    stem_cfg=dict(num_heads=4, block=4, num_mixtures=8),
    init_cfg=dict(type='Pretrained', prefix='backbone.',
                  checkpoint='work_dirs/sasa_r50_full_in1k/epoch_130.pth'))  # sasa_r50_full_in1k.py
