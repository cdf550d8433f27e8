"""Latency and peak memory of one SASA layer (LocalSelfAttention2d) per implementation, against
a 3x3 convolution of the same width, as Markdown table rows.

Default shapes are the first-stage layer of SASA-ResNet-50 (64 channels, 8 heads, k=7) for 224
and 640 inputs (56x56 and 160x160 maps).

Example:
    python tools/analysis_tools/sasa_layer_benchmark.py --sizes 56 160 --repeat 3
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn

from mmvit_plugins.models.layers import LocalSelfAttention2d


def _time(fn, warmup, repeat, sync):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[56, 160])
    parser.add_argument('--channels', type=int, default=64)
    parser.add_argument('--heads', type=int, default=8)
    parser.add_argument('--kernel-size', type=int, default=7)
    parser.add_argument('--impls', nargs='+', default=['fast', 'reference', 'unfold', 'conv3x3'])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args(argv)
    dev = torch.device(args.device)
    cuda = dev.type == 'cuda'
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    print('| layer | input | device | fwd (ms) | fwd+bwd (ms) | peak mem fwd+bwd (MB) |')
    print('|---|---|---|---|---|---|')
    for size in args.sizes:
        x = torch.randn(1, args.channels, size, size, device=dev, requires_grad=True)
        for impl in args.impls:
            if impl == 'conv3x3':
                layer = nn.Conv2d(args.channels, args.channels, 3, padding=1, bias=False)
            else:
                layer = LocalSelfAttention2d(args.channels, args.channels, args.kernel_size,
                                             args.heads, impl=impl)
            layer = layer.to(dev)

            def fwd():
                with torch.no_grad():
                    layer(x)

            def fwd_bwd():
                layer(x).sum().backward()

            t_fwd = _time(fwd, args.warmup, args.repeat, sync)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            t_bwd = _time(fwd_bwd, args.warmup, args.repeat, sync)
            mem = (f'{torch.cuda.max_memory_allocated() / 2**20:.0f}' if cuda else
                   'n/a (CPU)')
            name = impl if impl == 'conv3x3' else f'SASA {impl}'
            print(f'| {name} | 1x{args.channels}x{size}x{size} | {args.device} | {t_fwd:.1f} | '
                  f'{t_bwd:.1f} | {mem} |', flush=True)


if __name__ == '__main__':
    main()
