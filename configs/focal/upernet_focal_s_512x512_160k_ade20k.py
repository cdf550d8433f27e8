# UperNet with Focal-S, ADE20K (recipe: upernet_focal_t_512x512_160k_ade20k.py).
_base_ = './upernet_focal_t_512x512_160k_ade20k.py'
model = dict(backbone=dict(
    arch='small', init_cfg=dict(checkpoint='checkpoints/focal_s_backbone.pth')))
