# RetinaNet with a full-attention SASA-ResNet-50 (attention stem + attention stages), the paper's
# COCO protocol (Table 2 row "Full Attention", convolutional FPN and heads); see
# retinanet_sasa_r50_fpn_150e-640_coco.py.
_base_ = './retinanet_sasa_r50_fpn_150e-640_coco.py'
checkpoint = 'work_dirs/sasa_r50_full_in1k/epoch_130.pth'  # noqa: train sasa_r50_full_in1k.py
model = dict(
    backbone=dict(
        stem_type='attention',
        stem_cfg=dict(num_heads=4, block=4, num_mixtures=8),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
