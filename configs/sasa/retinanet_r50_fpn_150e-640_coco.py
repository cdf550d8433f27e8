# The paper's convolutional baseline (Table 2 row "Baseline (R50)") under the same 640 / 150-epoch
# protocol: SASAResNet with no attention stage is exactly torchvision's ResNet-50 (same module
# names), so torchvision's ImageNet weights load directly.
_base_ = './retinanet_sasa_r50_fpn_150e-640_coco.py'
model = dict(
    backbone=dict(
        stage_with_attn=(False, False, False, False),
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50', prefix=None)))
