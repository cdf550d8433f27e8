# Focal Transformer backbones of the Focal configs, under focal_* names so that a config can
# take them next to an mmdet/mmseg base (bases may not define the same key twice):
#   model = dict(backbone=dict(_base_.focal_det_backbone, _delete_=True), ...)
# The S and B configs override arch, drop_path_rate and the checkpoint only.
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)

# Focal-T as released (official configs/focal_tiny_patch4_window7_224.yaml): two focal
# levels in every stage, pooled neighbourhoods (7, 5, 3, 1), structure derived at 224.
focal_backbone = dict(
    type='FocalTransformer',
    arch='tiny',
    pretrain_img_size=224,
    focal_levels=(2, 2, 2, 2),
    focal_windows=(7, 5, 3, 1),
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3))

# Detection / segmentation: the paper's focal windows (15, 13, 9, 7) (the pooled-level bias
# tables of the ImageNet checkpoint are resized on load), ImageNet (224) structure, and the
# backbone weights written by
#   python tools/model_converters/focal2mmvit.py focal-tiny-is224-ws7.pth \
#       checkpoints/focal_t_backbone.pth --backbone-only
focal_det_backbone = dict(
    focal_backbone,
    focal_windows=(15, 13, 9, 7),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/focal_t_backbone.pth'))
