"""Benchmark the 7x7 neighbourhood attention of DAT++'s N blocks against 7x7 window attention.

Both run on the same scaled q, k, v maps ``(B, heads, H, W, d)`` with a learnable relative
position bias (its gradient included in forward+backward):

* ``window``: Swin's attention core as mmdet's ``WindowMSA`` computes it (non-overlapping 7x7
  windows, ``q k^T + bias``, softmax, ``@ v``; maps padded to a multiple of 7);
* ``na-fast``: :func:`neighborhood_attention_2d` with ``impl='fast'`` (tiled gathered attention;
  ``--tile`` sets the query tile);
* ``na-reference``: the plain per-query gather.

With ``--module`` the whole attention modules run instead (qkv and output projections
included, on a ``(B, C, H, W)`` map with ``C = heads * d``): mmdet's Swin ``ShiftWindowMSA``
(window 7, no shift) against :class:`NeighborhoodAttention2d`.

Example::

    python tools/analysis_tools/na_benchmark.py --size 128 128 --heads 2 --dims 32
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def window_attention(q, k, v, bias_table, window=7):
    """Swin window attention core (mmdet WindowMSA): q pre-scaled, (B, h, H, W, d)."""
    B, h, H, W, d = q.shape
    ph, pw = (-H) % window, (-W) % window

    def windows(t):
        t = F.pad(t, (0, 0, 0, pw, 0, ph))
        t = t.view(B, h, (H + ph) // window, window, (W + pw) // window, window, d)
        return t.permute(0, 2, 4, 1, 3, 5, 6).reshape(-1, h, window * window, d)

    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing='ij')).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :] + window - 1
    index = rel[0] * (2 * window - 1) + rel[1]
    bias = bias_table.flatten(1)[:, index]  # (h, 49, 49)
    attn = windows(q) @ windows(k).transpose(-2, -1) + bias
    return attn.softmax(-1) @ windows(v)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs=2, default=[128, 128], help='H W')
    parser.add_argument('--heads', type=int, default=2)
    parser.add_argument('--dims', type=int, default=32, help='head width d')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--tile', type=int, default=None, help='NA query tile (default: '
                        "the module's)")
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--impls', nargs='+', default=['window', 'na-fast', 'na-reference'])
    parser.add_argument('--module', action='store_true',
                        help='whole modules (projections included) instead of the cores')
    parser.add_argument('--header', action='store_true')
    args = parser.parse_args()

    import mmvit_plugins.models.layers.neighborhood_attention as na
    if args.tile:
        na._TILE = args.tile
    H, W = args.size
    torch.manual_seed(0)
    shape = (args.batch, args.heads, H, W, args.dims)
    q, k, v = (torch.randn(shape) for _ in range(3))
    q = q * args.dims ** -0.5
    table = torch.randn(args.heads, 13, 13) * 0.02

    channels = args.heads * args.dims
    modules = {}
    if args.module:
        from mmdet.models.backbones.swin import ShiftWindowMSA
        modules['window'] = ShiftWindowMSA(channels, args.heads, 7, shift_size=0)
        for impl in ('fast', 'reference'):
            modules['na-' + impl] = na.NeighborhoodAttention2d(channels, args.heads, 7,
                                                               attn_impl=impl)
    x_map = torch.randn(args.batch, channels, H, W)

    def run(impl, backward):
        if args.module:
            x = x_map.clone().requires_grad_(backward)
            if impl == 'window':
                out = modules[impl](x.flatten(2).transpose(1, 2), (H, W))
            else:
                out = modules[impl](x)
        else:
            leaves = [t.clone().requires_grad_(backward) for t in (q, k, v, table)]
            if impl == 'window':
                out = window_attention(*leaves)
            else:
                out = na.neighborhood_attention_2d(*leaves, 7, impl=impl[3:])
        if backward:
            out.sum().backward()

    if args.header:
        print('| attention | scope | map | heads x d | fwd (ms) | fwd+bwd (ms) |')
        print('|---|---|---|---|---|---|')
    # rounds interleave the implementations (forward, then forward+backward), so that the
    # ratios compare them under the same machine state
    samples = {(impl, bwd): [] for impl in args.impls for bwd in (False, True)}
    for impl in args.impls:
        for backward in (False, True):
            run(impl, backward)  # warm-up (caches, allocator)
    for r in range(args.repeat):
        for impl in (args.impls if r % 2 == 0 else args.impls[::-1]):
            for backward in (False, True):
                start = time.perf_counter()
                if backward:
                    run(impl, True)
                else:
                    with torch.no_grad():
                        run(impl, False)
                samples[impl, backward].append((time.perf_counter() - start) * 1e3)
    scope = 'module' if args.module else 'core'
    for impl in args.impls:
        times = [statistics.median(samples[impl, bwd]) for bwd in (False, True)]
        label = impl + (f' (tile {na._TILE})' if impl == 'na-fast' else '')
        print(f'| {label} | {scope} | {H}x{W} | {args.heads}x{args.dims} | {times[0]:.1f} | '
              f'{times[1]:.1f} |', flush=True)
    if 'window' in args.impls and 'na-fast' in args.impls:
        ratios = [statistics.median(n / w for n, w in zip(samples['na-fast', bwd],
                                                           samples['window', bwd]))
                  for bwd in (False, True)]
        print(f'na-fast / window (median of paired ratios): fwd {ratios[0]:.2f}x, '
              f'fwd+bwd {ratios[1]:.2f}x')


if __name__ == '__main__':
    main()
