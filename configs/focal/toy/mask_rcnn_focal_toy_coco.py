# A tiny Focal backbone in Mask R-CNN, trained from scratch on the toy COCO set for one short
# CPU epoch: the end-to-end smoke run of the family (tests/test_focal_configs.py). Detection
# structure as in the real configs (224 structure, focal windows (15, 13, 9, 7)).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../../_base_/datasets/toy_coco_instance.py',
    '../../_base_/schedules/toy_det.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/models/focal.py'
]
model = dict(
    backbone=dict(
        _base_.focal_det_backbone,
        _delete_=True,
        arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4]),
        drop_path_rate=0.1,
        init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64, num_classes=4),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32, num_classes=4)),
    # fewer proposals and RoIs: the run must stay short on 2 shared CPU cores
    train_cfg=dict(rpn_proposal=dict(nms_pre=500, max_per_img=200),
                   rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=200), rcnn=dict(max_per_img=20)))
# 16 training images (8 iterations of 2), 8 validation images
train_dataloader = dict(dataset=dict(indices=16))
val_dataloader = dict(dataset=dict(indices=8))
test_dataloader = val_dataloader
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    'relative_position_bias_table': dict(decay_mult=0.),
    'norm': dict(decay_mult=0.)
}))
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=6),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
