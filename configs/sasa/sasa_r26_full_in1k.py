# SASA-ResNet-26 "full attention" (attention stem + attention stages), ImageNet-1k with the
# paper's recipe.
_base_ = './sasa_r50_full_in1k.py'
model = dict(backbone=dict(depth=26))
