# ImageNet classifier with a SASA-ResNet-50 backbone: the conv stem ("conv-stem + attention") and
# 7 x 7 attention with 8 heads in the bottlenecks of all four stages; global pooling, linear head.
custom_imports = dict(imports=['mmvit_plugins'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SASAResNet',
        depth=50,
        stem_type='conv',
        stage_with_attn=(True, True, True, True),
        attn_cfg=dict(kernel_size=7, num_heads=8),
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
