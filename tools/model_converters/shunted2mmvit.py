"""Convert an official Shunted Transformer checkpoint (OliverRensu/Shunted-Transformer) to
mmvit_plugins.

    python tools/model_converters/shunted2mmvit.py ckpt_s.pth shunted_s_in1k.pth
    python tools/model_converters/shunted2mmvit.py ckpt_s.pth shunted_s_backbone.pth --backbone-only

The first writes an mmpretrain ImageClassifier state dict (configs/shunted/shunted_s_in1k.py),
the second the backbone alone for detector/segmentor ``init_cfg=dict(type='Pretrained', ...)``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmvit_plugins.converters.common import converter_main  # noqa: E402
from mmvit_plugins.converters.shunted import FAMILY, convert  # noqa: E402

if __name__ == '__main__':
    converter_main(FAMILY, convert)
