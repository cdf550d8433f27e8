"""Convert an official Shunted Transformer checkpoint (OliverRensu/Shunted-Transformer) to
mmvit_plugins.

    python tools/model_converters/shunted2mmvit.py ckpt_s.pth shunted_s_in1k.pth
    python tools/model_converters/shunted2mmvit.py ckpt_s.pth shunted_s_backbone.pth --backbone-only

The first writes an mmpretrain ImageClassifier state dict (configs/shunted/shunted_s_in1k.py),
the second the backbone alone for detector/segmentor ``init_cfg=dict(type='Pretrained', ...)``.
Official ``patch_embed1`` / ``block{i}`` / ``patch_embed{i}`` / ``norm{i}`` become
``patch_embed`` / ``stages.{i-1}.blocks`` / ``stages.{i-2}.downsample`` / ``norm{i-1}``.
"""
from mmvit_plugins.converters.common import converter_main
from mmvit_plugins.converters.shunted import FAMILY, convert

if __name__ == '__main__':
    converter_main(FAMILY, convert)
