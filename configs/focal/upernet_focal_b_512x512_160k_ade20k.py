# UperNet with Focal-B, ADE20K (recipe: upernet_focal_t_512x512_160k_ade20k.py).
_base_ = './upernet_focal_t_512x512_160k_ade20k.py'
model = dict(
    backbone=dict(arch='base', init_cfg=dict(checkpoint='checkpoints/focal_b_backbone.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
