# The tiny full-attention RetinaNet of retinanet_sasa_toy_coco.py with the attention FPN and
# heads (SASAFPN, SASARetinaHead): the end-to-end smoke run of the all-attention detector
# (tests/test_sasa_retinanet.py).
_base_ = './retinanet_sasa_toy_coco.py'
attn_cfg = dict(kernel_size=5, num_heads=4)
model = dict(
    neck=dict(type='SASAFPN', attn_cfg=attn_cfg),
    bbox_head=dict(type='SASARetinaHead', attn_cfg=attn_cfg,
                   norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)))
