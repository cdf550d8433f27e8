# Semantic FPN with Shunted-S, ADE20K 512x512: the only ADE20K setting tied to Shunted by two
# sources (RMT's Table 5 reprints "Shunted-S FPN 26M 183G 48.2"; a user in issue #22 says the
# paper follows PVT's semantic FPN code). Recipe of whai362/PVT
# segmentation/configs/sem_fpn/PVT/fpn_pvt_s_ade20k_40k.py: AdamW lr 2e-4 (1e-4 x 2 for 8 GPUs),
# wd 1e-4, poly (power 0.9), 40k iterations, FPN 256 channels, whole-image test. Assumptions:
# 8 GPUs x 2 images, drop path 0.1 (PVT's dense setting).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py',
    './_base_/models/shunted.py'
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(_base_.shunted_backbone, _delete_=True),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=256, num_outs=4),
    decode_head=dict(num_classes=150))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40000, by_epoch=False)
]
train_dataloader = dict(batch_size=2)
