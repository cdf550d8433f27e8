# SegformerHead on Shunted-T, ADE20K (recipe: segformer_shunted_s_512x512_160k_ade20k.py;
# drop path 0.1).
_base_ = './segformer_shunted_s_512x512_160k_ade20k.py'
model = dict(backbone=dict(
    arch='t', drop_path_rate=0.1,
    init_cfg=dict(checkpoint='checkpoints/shunted_t_backbone.pth')))
