# RetinaNet with a full-attention SASA-ResNet-50 (attention stem + attention stages), the paper's
# COCO protocol (Table 2 row "Full Attention", convolutional FPN and heads); see
# retinanet_sasa_r50_fpn_150e-640_coco.py.
_base_ = './retinanet_sasa_r50_fpn_150e-640_coco.py'
model = dict(backbone=_base_.full_attention_backbone)
