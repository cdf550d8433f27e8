# A tiny full-attention SASA-ResNet (attention stem + attention in every stage) in RetinaNet,
# trained from scratch on the toy COCO set for one short CPU epoch: the end-to-end smoke run of
# the family (tests/test_sasa_configs.py).
_base_ = [
    '../_base_/models/retinanet_sasa_r50_fpn.py',
    '../../_base_/datasets/toy_coco_instance.py',
    '../../_base_/schedules/toy_det.py',
    'mmdet::_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        depth=26,
        stage_blocks=(1, 1, 1, 1),
        stem_type='attention',
        stem_channels=16,
        base_channels=16,
        stem_cfg=dict(num_heads=2, num_mixtures=4),
        attn_cfg=dict(kernel_size=5, num_heads=4),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32, add_extra_convs='on_output'),
    bbox_head=dict(num_classes=4, in_channels=32, feat_channels=32, stacked_convs=2),
    # after one short epoch the scores are still near the 0.01 prior: keep them so that the
    # evaluator has detections to score
    test_cfg=dict(nms_pre=200, score_thr=0.0, max_per_img=20))
# a subset keeps the smoke run short on 2 CPU cores
train_dataloader = dict(dataset=dict(indices=16))
val_dataloader = dict(dataset=dict(indices=8))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')  # RetinaNet predicts no masks
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=6),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
