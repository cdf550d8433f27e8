"""Paired latency comparison of two models (or backbones) from configs.

On a shared or throttled machine the speed drifts by 10-20 % within minutes, so two separate
``benchmark.py`` runs compare different machine states. This tool builds both models in one
process and times them in alternating order (A B, then B A, ...), so that every round
compares the two under the same conditions, and reports the median of the per-round ratios
next to each model's median and minimum latency. ``--device cuda`` (the default where a GPU is
visible) times both on the GPU, synchronising before and after every step.

Example (Focal-T against mmdet's Swin-T, forward+backward at a detection size)::

    python tools/analysis_tools/compare_latency.py \
        configs/focal/mask_rcnn_focal_t_1x_coco.py \
        mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py \
        --labels Focal-T Swin-T --backbone-only --shape 800 1344 --mode fwdbwd --rounds 6
"""
import argparse
import os.path as osp
import statistics
import time

import torch

from mmvit_plugins.utils.analysis import (add_device_argument, add_shape_argument,
                                          build_for_analysis, check_device, check_shape,
                                          sum_outputs, synchronize)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Paired latency comparison of two configs')
    parser.add_argument('config', help='the model under test (A)')
    parser.add_argument('baseline', help='the reference model (B)')
    parser.add_argument('--labels', nargs=2, default=None, metavar=('A', 'B'))
    add_shape_argument(parser)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--backbone-only', action='store_true')
    parser.add_argument('--mode', choices=['fwd', 'fwdbwd'], default='fwd')
    add_device_argument(parser)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=6)
    parser.add_argument('--header', action='store_true', help='print the table header too')
    args = parser.parse_args(argv)
    check_shape(parser, args)
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')
    check_device(parser, args.device)
    return args


def make_step(config, args, x):
    model, forward, _ = build_for_analysis(config, None, args.backbone_only)
    model.to(args.device).eval()

    def step():
        if args.mode == 'fwd':
            with torch.no_grad():
                forward(model, x)
        else:
            model.zero_grad(set_to_none=True)
            sum_outputs(forward(model, x)).backward()

    return step


def compare(args):
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, *args.shape, device=args.device)
    steps = [make_step(c, args, x) for c in (args.config, args.baseline)]
    for step in steps:
        for _ in range(args.warmup):
            step()
    times = ([], [])
    for r in range(args.rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            synchronize(args.device)
            t0 = time.perf_counter()
            steps[i]()
            synchronize(args.device)
            times[i].append((time.perf_counter() - t0) * 1000)
    ratios = [a / b for a, b in zip(*times)]
    return times, ratios


def main(argv=None):
    args = parse_args(argv)
    times, ratios = compare(args)
    labels = args.labels or [osp.basename(args.config), osp.basename(args.baseline)]
    if args.header:
        print('| A vs B | input | mode | A median / min (ms) | B median / min (ms) | '
              'A/B (median of paired ratios) | A/B range | device |')
        print('|---|---|---|---|---|---|---|---|')
    mode = 'fwd' if args.mode == 'fwd' else 'fwd+bwd'
    a, b = times
    print(f'| {labels[0]} vs {labels[1]} | {args.batch}x3x{args.shape[0]}x{args.shape[1]} | '
          f'{mode} | {statistics.median(a):.1f} / {min(a):.1f} | '
          f'{statistics.median(b):.1f} / {min(b):.1f} | {statistics.median(ratios):.2f} | '
          f'{min(ratios):.2f}-{max(ratios):.2f} | {args.device} |', flush=True)
    return times, ratios


if __name__ == '__main__':
    main()
