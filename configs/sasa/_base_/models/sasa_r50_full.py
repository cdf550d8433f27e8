# "Full attention" SASA-ResNet-50 classifier: the attention stem with spatially-aware values
# (attention in 4 x 4 blocks of the image, 4 heads, M = 8 value matrices, BN, ReLU, 4 x 4
# max-pool) instead of the conv stem.
_base_ = './sasa_r50.py'
model = dict(
    backbone=dict(stem_type='attention', stem_cfg=dict(num_heads=4, block=4, num_mixtures=8)))
