"""Convert an official Focal Transformer checkpoint (microsoft/Focal-Transformer,
classification) to mmvit_plugins.

    python tools/model_converters/focal2mmvit.py focal-tiny-is224-ws7.pth focal_t_in1k.pth
    python tools/model_converters/focal2mmvit.py focal-tiny-is224-ws7.pth focal_t_backbone.pth \
        --backbone-only

The first writes an mmpretrain ImageClassifier state dict (configs/focal/focal_t_in1k.py),
the second the backbone alone for a detector's or segmentor's
``init_cfg=dict(type='Pretrained', checkpoint=...)``. Accepts ``{'model': ...}``, raw state
dicts and ``module.`` prefixes; other families' checkpoints are refused with a message.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmvit_plugins.converters.common import converter_main  # noqa: E402
from mmvit_plugins.converters.focal import FAMILY, convert  # noqa: E402

if __name__ == '__main__':
    converter_main(FAMILY, convert)
