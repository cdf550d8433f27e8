# `make demo`: Mask R-CNN with a small Focal Transformer backbone (ours), trained from scratch
# for a few CPU minutes on the whole toy COCO set (mask_rcnn_r18_toy_coco.py is a ResNet-18 twin).
_base_ = '../focal/toy/mask_rcnn_focal_toy_coco.py'
model = dict(
    backbone=dict(arch=dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8]),
                  drop_path_rate=0.0),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(in_channels=64, conv_out_channels=64)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=300),
                   rcnn=dict(sampler=dict(num=256))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300), rcnn=dict(max_per_img=50)))
train_dataloader = dict(dataset=dict(indices=None))  # all 48 training images
val_dataloader = dict(dataset=dict(indices=None))    # all 16 validation images
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
# 12 epochs of 24 iterations
train_cfg = dict(max_epochs=12, val_interval=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=12, T_max=12, eta_min=1e-5)
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=12, max_keep_ckpts=1))
