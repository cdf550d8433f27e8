# UperNet with Shunted-S, ADE20K 512x512, 160k iterations. No official segmentation code
# exists; this is the Swin UperNet recipe (mmseg swin-tiny upernet config): AdamW lr 6e-5,
# wd 0.01 (none on norms), 1500-iteration warm-up then poly (power 1), 8 GPUs x 2 images, UPerHead
# on all four stages (channels 512) + FCN auxiliary head on stage 2 (loss weight 0.4), SyncBN in
# the heads, whole-image test. Assumption: backbone drop path = its ImageNet value (S 0.2).
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    './_base_/models/shunted.py'
]
model = dict(
    pretrained=None,
    backbone=dict(_base_.shunted_backbone, _delete_=True, drop_path_rate=0.2),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))
