# retinanet + DAT-T++, 1x schedule: DAT-Detection configs/dat/rtn_tiny_1x_4n_dp00_lr2.py
# (paper / official README: 46.8 box AP, COCO val2017).
_base_ = ['./_base_/retinanet_dat_fpn.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# ImageNet weights converted with:
#   python tools/model_converters/dat2mmvit.py \
#       dat_pp_tiny_in1k_224.pth checkpoints/dat_t_in1k_backbone.pth --backbone-only
pretrained = 'checkpoints/dat_t_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='tiny', drop_path_rate=0.0,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512]))
