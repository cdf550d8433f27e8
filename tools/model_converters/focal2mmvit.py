"""Convert an official Focal Transformer checkpoint (microsoft/Focal-Transformer,
classification) to mmvit_plugins.

    python tools/model_converters/focal2mmvit.py focal-tiny-is224-ws7.pth focal_t_in1k.pth
    python tools/model_converters/focal2mmvit.py focal-tiny-is224-ws7.pth focal_t_backbone.pth \
        --backbone-only

The first writes an mmpretrain ImageClassifier state dict (configs/focal/focal_t_in1k.py),
the second the backbone alone for a detector's or segmentor's
``init_cfg=dict(type='Pretrained', checkpoint=...)``. Official ``layers.{i}`` become
``stages.{i}``, the final ``norm`` becomes ``norm3``. Accepts ``{'model': ...}``, raw state
dicts and ``module.`` prefixes; other families' checkpoints are refused with a message.
"""
from mmvit_plugins.converters.common import converter_main
from mmvit_plugins.converters.focal import FAMILY, convert

if __name__ == '__main__':
    converter_main(FAMILY, convert)
