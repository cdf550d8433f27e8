# SegformerHead on Shunted-B, ADE20K (recipe: segformer_shunted_s_512x512_160k_ade20k.py;
# drop path 0.3).
_base_ = './segformer_shunted_s_512x512_160k_ade20k.py'
model = dict(backbone=dict(
    arch='b', drop_path_rate=0.3,
    init_cfg=dict(checkpoint='checkpoints/shunted_b_backbone.pth')))
