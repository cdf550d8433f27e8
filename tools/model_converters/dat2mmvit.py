"""Convert an official DAT++ checkpoint (LeapLabTHU/DAT, DAT-Detection, DAT-Segmentation) to
mmvit_plugins.

    python tools/model_converters/dat2mmvit.py dat_pp_tiny_in1k_224.pth dat_t_in1k.pth
    python tools/model_converters/dat2mmvit.py dat_pp_tiny_in1k_224.pth dat_t_bb.pth --backbone-only

The first writes an mmpretrain ImageClassifier state dict (configs/dat/dat_t_in1k.py), the
second the backbone alone for a detector's/segmentor's ``init_cfg=dict(type='Pretrained', ...)``.
Official detector/segmentor checkpoints (``backbone.`` keys) are accepted too; their backbone
(with its output norms) is kept. DAT v1 and other families are rejected. The official module
names are mapped to Swin's (``patch_proj`` -> ``patch_embed``, ``stages.i.attns.d`` ->
``stages.i.blocks.d.attn``, ``down_projs.i`` -> ``stages.i.downsample``...; see
``mmvit_plugins/converters/dat.py``).
"""
from mmvit_plugins.converters.common import converter_main
from mmvit_plugins.converters.dat import FAMILY, convert, infer_arch


def convert_and_report(state_dict):
    converted = convert(state_dict)
    arch = infer_arch(converted)
    print(f'{FAMILY}: detected arch {arch or "custom (not tiny/small/base)"}')
    return converted


if __name__ == '__main__':
    converter_main(FAMILY, convert_and_report)
