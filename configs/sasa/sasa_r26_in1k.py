# SASA-ResNet-26, conv stem + attention, ImageNet-1k with the paper's recipe.
_base_ = './sasa_r50_in1k.py'
model = dict(backbone=dict(depth=26))
