# The all-attention RetinaNet with the full-attention backbone (Table 2 row "Attention heads +
# FPN, Full Attention"): attention stem + attention stages, attention FPN and heads; see
# retinanet_sasa_r50_sasa-fpn_sasa-head_150e-640_coco.py and
# retinanet_sasa_r50_full_fpn_150e-640_coco.py.
_base_ = './retinanet_sasa_r50_sasa-fpn_sasa-head_150e-640_coco.py'
checkpoint = 'work_dirs/sasa_r50_full_in1k/epoch_130.pth'  # noqa: train sasa_r50_full_in1k.py
model = dict(
    backbone=dict(
        stem_type='attention',
        stem_cfg=dict(num_heads=4, block=4, num_mixtures=8),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
