# The all-attention RetinaNet of the SASA paper (Table 2 row "Attention heads + FPN, Conv-stem +
# Attention"): the SASA-ResNet-50 backbone of retinanet_sasa_r50_fpn_150e-640_coco.py and its
# 640 / 150-epoch protocol, with every 3x3 convolution of the FPN and the heads replaced by the
# SASA layer (App. A.3): FPN output convolutions and the strided P6/P7 convolutions (attention
# + 2x2 average pooling) in SASAFPN, the 4 stacked convolutions of each head in SASARetinaHead,
# d_out = 256, k = 7, 8 heads; heads shared across levels, attention values initialised from
# N(0, 0.01), a pointwise convolution at the end of each head mixing the attention heads.
# Not stated in the paper, chosen here: 3x3 prediction layers (RetinaNet's), GroupNorm(32) after
# every head layer (with N(0, 0.01) values and no norm the head's activations shrink ~10x per
# attention layer at init), no norm in the FPN (mmdet's FPN). See configs/sasa/README.md.
_base_ = './retinanet_sasa_r50_fpn_150e-640_coco.py'
attn_cfg = dict(kernel_size=7, num_heads=8)
model = dict(
    neck=dict(type='SASAFPN', attn_cfg=attn_cfg),
    bbox_head=dict(
        type='SASARetinaHead',
        attn_cfg=attn_cfg,
        mix_heads=True,
        pred_kernel_size=3,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)))
