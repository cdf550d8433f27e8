"""Latency, throughput and peak memory of a model or its backbone from a config.

Runs warm-up iterations, then ``--repeat`` timed ones, and reports the median, for the forward
pass (eval, no grad) and the forward+backward pass (eval-mode layers, gradients on), printed as
a Markdown table row (``--header`` prints the header too).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` per phase; on CPU the growth of the
process's peak resident memory over the loaded model (``ru_maxrss``), so the forward phase runs
first and each number is the peak up to the end of that phase.

Example:
    python tools/analysis_tools/benchmark.py configs/focal/mask_rcnn_focal_t_1x_coco.py \
        --backbone-only --shape 512 512 --cfg-options model.backbone.attn_impl=reference
"""
import argparse
import os.path as osp

import torch
from mmengine.config import DictAction

from mmvit_plugins.utils.analysis import (add_device_argument, add_shape_argument,
                                          build_for_analysis, check_device, check_shape,
                                          measure)

HEADER = ('| model | input | device | precision | fwd (ms) | fwd img/s | fwd+bwd (ms) | '
          'fwd+bwd img/s | peak mem fwd (MB) | peak mem fwd+bwd (MB) |\n'
          '|---|---|---|---|---|---|---|---|---|---|')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a model from a config')
    parser.add_argument('config')
    add_shape_argument(parser)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--backbone-only', action='store_true')
    add_device_argument(parser)
    parser.add_argument('--amp', action='store_true',
                        help='autocast: float16 on CUDA, bfloat16 on CPU')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--mode', choices=['fwd', 'fwdbwd', 'both'], default='both')
    parser.add_argument('--label', help='name in the first column (default: the config)')
    parser.add_argument('--header', action='store_true', help='print the table header too')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.backbone.attn_impl=reference')
    args = parser.parse_args(argv)
    check_shape(parser, args)
    check_device(parser, args.device)
    return args


def benchmark(args):
    model, forward, _ = build_for_analysis(args.config, args.cfg_options, args.backbone_only)
    model.to(args.device)
    model.eval()  # (some backbones' train() return None, so no chaining)
    x = torch.randn(args.batch, 3, *args.shape, device=args.device)
    modes = ('fwd', 'fwdbwd') if args.mode == 'both' else (args.mode, )
    return measure(model, forward, x, args.device, modes, args.warmup, args.repeat, args.amp)


def format_row(args, result):
    label = args.label or (osp.basename(args.config) + (' (backbone)' if args.backbone_only else '')
                           + (f' {args.cfg_options}' if args.cfg_options else ''))
    precision = ('fp16' if args.device == 'cuda' else 'bf16') + ' AMP' if args.amp else 'fp32'
    cells = [label, f'{args.batch}x3x{args.shape[0]}x{args.shape[1]}', args.device, precision]
    for name in ('fwd', 'fwdbwd'):
        ms, ips, _ = result.get(name, (None, None, None))
        cells += ['-', '-'] if ms is None else [f'{ms:.1f}', f'{ips:.2f}']
    for name in ('fwd', 'fwdbwd'):
        mem = result.get(name, (None, None, None))[2]
        cells.append('-' if mem is None else f'{mem:.0f}')
    return '| ' + ' | '.join(cells) + ' |'


def main(argv=None):
    args = parse_args(argv)
    result = benchmark(args)
    if args.header:
        print(HEADER)
    print(format_row(args, result))
    return result


if __name__ == '__main__':
    main()
