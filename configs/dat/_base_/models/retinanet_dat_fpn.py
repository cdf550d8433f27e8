# RetinaNet with a DAT++ backbone (DAT-Detection configs/_base_/models/retinanet_dat_fpn.py):
# stages 1-3 feed the FPN, P6/P7 from extra convs on C5 ('on_input'). The official backbone
# returns stage 0 too and the FPN skips it with start_level=1; here the backbone returns only
# out_indices=(1, 2, 3) and the FPN starts at 0: the same network and the same neck keys.
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True, type='DAT', arch='tiny', img_size=224, out_indices=(1, 2, 3),
        drop_path_rate=0.0, with_cp=True),
    neck=dict(in_channels=[128, 256, 512], start_level=0, add_extra_convs='on_input',
              num_outs=5))
