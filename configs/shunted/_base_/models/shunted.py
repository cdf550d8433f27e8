# The Shunted-S backbone of the detection and segmentation configs, with converted ImageNet
# weights, under a shunted_* name so that a config can take it next to an mmdet/mmseg base
# (bases may not define the same key twice):
#   model = dict(backbone=dict(_base_.shunted_backbone, _delete_=True), ...)
# Other sizes override arch and the checkpoint. Stem BN trained as plain BN and no activation
# checkpointing: not published for Shunted (set with_cp=True to save memory).
# Backbone weights: python tools/model_converters/shunted2mmvit.py ckpt_s.pth \
#     checkpoints/shunted_s_backbone.pth --backbone-only
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
shunted_backbone = dict(
    type='ShuntedTransformer',
    arch='s',
    drop_path_rate=0.1,
    out_indices=(0, 1, 2, 3),
    norm_eval=False,
    with_cp=False,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/shunted_s_backbone.pth'))
