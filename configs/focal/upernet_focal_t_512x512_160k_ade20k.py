# UperNet with Focal-T, ADE20K 512x512, 160k iterations. No official segmentation code; the
# README says it follows Swin-Transformer-Semantic-Segmentation, i.e. mmseg's Swin UperNet
# recipe: AdamW lr 6e-5, wd 0.01 (none on norms and bias tables), 1500-iteration warm-up then
# poly (power 1), 8 GPUs x 2 images, UPerHead on all four stages (channels 512) + FCN auxiliary
# head on stage 2 (loss weight 0.4), SyncBN in the heads, drop path 0.3 (Swin-seg's value).
# Assumptions (not published): focal windows (15, 13, 9, 7) as for detection (the crop is
# 512, well above 224), ImageNet (224) structure.
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    './_base_/models/focal.py'
]
model = dict(
    pretrained=None,
    backbone=dict(_base_.focal_det_backbone, _delete_=True, drop_path_rate=0.3),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))
