"""Params and FLOPs of a model or its backbone from a config, at a given input shape.

Counts convolutions, linear layers and every matmul, including attention (q k^T, attn v) and
fused scaled_dot_product_attention, with torch.utils.flop_counter; element-wise work
(softmax, norms, sampling) is not counted. Prints GMACs, which the Focal / Shunted / Swin /
DAT papers call "FLOPs", and GFLOPs = 2 x GMACs, the convention of the SASA paper.

Example:
    python tools/analysis_tools/get_flops.py configs/focal/mask_rcnn_focal_t_1x_coco.py \
        --shape 800 1280
"""
import argparse

from mmengine.config import DictAction

from mmvit_plugins.utils.analysis import add_shape_argument, build_for_analysis, check_shape
from mmvit_plugins.utils.complexity import get_complexity


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Params and FLOPs of a model from a config')
    parser.add_argument('config', help='config file (also mmdet::/mmseg::/mmpretrain:: paths)')
    add_shape_argument(parser)
    parser.add_argument('--backbone-only', action='store_true',
                        help='count only cfg.model.backbone')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    args = parser.parse_args(argv)
    check_shape(parser, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    model, forward, _ = build_for_analysis(args.config, args.cfg_options, args.backbone_only)
    h, w = args.shape
    res = get_complexity(model, (3, h, w), forward=forward)
    what = 'backbone of ' if args.backbone_only else ''
    print(f'{what}{args.config} at 3x{h}x{w}')
    print(f'Params: {res["params"] / 1e6:.2f} M')
    print(f'GMACs:  {res["macs"] / 1e9:.2f} G  (multiply-adds; the "FLOPs" of the Focal, '
          'Shunted, Swin and DAT papers)')
    print(f'GFLOPs: {res["flops"] / 1e9:.2f} G  (2 per multiply-add; the SASA paper\'s '
          'convention)')
    return res


if __name__ == '__main__':
    main()
