# SASA-ResNet-38 "full attention": the attention stem with spatially-aware values (attention in
# 4x4 blocks of the image, 4 heads, M=8 value matrices, BN, ReLU, 4x4 max-pool) and attention in
# all four stages, ImageNet-1k, the paper's recipe (see sasa_r50_in1k.py).
_base_ = './sasa_r38_in1k.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    backbone=dict(stem_type='attention', stem_cfg=dict(num_heads=4, block=4, num_mixtures=8)))
