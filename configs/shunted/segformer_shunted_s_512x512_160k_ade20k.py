# mmseg's SegformerHead (all-MLP decoder) on Shunted-S, ADE20K 512x512, 160k iterations. No
# official code exists; this is mmseg's SegFormer MiT-B2 recipe: AdamW lr 6e-5, wd 0.01 (none on
# norms), head lr x10, 1500-iteration warm-up then poly (power 1), 8 GPUs x 2 images, whole-image
# test, and the 768-channel MLP decoder of NVlabs/SegFormer's B2-B5 configs (mmseg's MiT-B2
# config keeps the B0 value 256). Assumption: backbone drop path = its ImageNet value (S 0.2).
# The 'head' lr_mult key matches only decode_head.* (no backbone parameter is named *head*).
_base_ = [
    'mmseg::segformer/segformer_mit-b2_8xb2-160k_ade20k-512x512.py', './_base_/models/shunted.py'
]
model = dict(
    pretrained=None,
    backbone=dict(_base_.shunted_backbone, _delete_=True, drop_path_rate=0.2),
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=768, num_classes=150))
