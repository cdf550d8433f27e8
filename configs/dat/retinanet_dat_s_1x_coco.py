# retinanet + DAT-S++, 1x schedule: DAT-Detection configs/dat/rtn_small_1x_4n_dp01_lr2.py
# (paper / official README: 48.3 box AP, COCO val2017).
_base_ = ['./_base_/retinanet_dat_fpn.py']
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
# ImageNet weights converted with:
#   python tools/model_converters/dat2mmvit.py \
#       dat_pp_small_in1k_224.pth checkpoints/dat_s_in1k_backbone.pth --backbone-only
pretrained = 'checkpoints/dat_s_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[192, 384, 768]))
