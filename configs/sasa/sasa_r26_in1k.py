# SASA-ResNet-26, conv stem + attention, ImageNet-1k, the paper's recipe (see sasa_r50_in1k.py).
_base_ = './sasa_r50_in1k.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(backbone=dict(depth=26))
