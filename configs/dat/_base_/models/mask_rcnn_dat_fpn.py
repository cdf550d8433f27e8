# Mask R-CNN with a DAT++ backbone (DAT-Detection configs/_base_/models/mask_rcnn_dat_fpn.py):
# non-standard FPN (start_level=0, add_extra_convs='on_input': P6 is a stride-2 conv on C5,
# creating neck.fpn_convs.4), L1 box losses (as mmdet 3's base), activation checkpointing.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True, type='DAT', arch='tiny', img_size=224, out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0, with_cp=True),
    neck=dict(in_channels=[64, 128, 256, 512], start_level=0, add_extra_convs='on_input',
              num_outs=5))
