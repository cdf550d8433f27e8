# The all-attention RetinaNet with the full-attention backbone (Table 2 row "Attention heads +
# FPN, Full Attention"): attention stem + attention stages, attention FPN and heads; see
# retinanet_sasa_r50_sasa-fpn_sasa-head_150e-640_coco.py and
# retinanet_sasa_r50_full_fpn_150e-640_coco.py.
_base_ = './retinanet_sasa_r50_sasa-fpn_sasa-head_150e-640_coco.py'
model = dict(backbone=_base_.full_attention_backbone)
