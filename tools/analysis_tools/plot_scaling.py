"""Latency and peak memory of backbones against the image side: a log-log PNG and a CSV.

Every backbone (default: Focal-T, Shunted-T, DAT-T++, SASA-R50 and mmdet's Swin-T and
ResNet-50, from their detection configs) runs at every side of ``--sides`` (input
``side x round(side * aspect)``), forward (no grad) and forward+backward, measured as
``benchmark.py`` measures (:func:`mmvit_plugins.utils.analysis.measure`: median latency; peak
memory as ``torch.cuda.max_memory_allocated`` on CUDA, resident-memory growth on CPU). Each
model is built once; before each side the freed memory goes back to the system and the peak is
reset (:func:`mmvit_plugins.utils.analysis.reset_peak_rss`), so that one side's peak does not
hide the next one's.

The PNG has two panels, latency and peak memory, with one line per model and pass; the legend
gives each line's slope on the log-log axes (least squares): 2 means the cost grows with the
number of pixels, 4 with its square. The CSV holds the measured rows; a point that failed (out
of memory, say) is a row with its error and is left out of the lines.

Example (all six, the sides of a detection input):
    python tools/analysis_tools/plot_scaling.py --device cpu --out docs/figures/scaling.png \
        --sides 256 384 512 640 768 1024 1344 --repeat 3
"""
import argparse
import csv
import math
import os.path as osp
import platform

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmvit_plugins.utils.analysis import (add_device_argument, build_for_analysis,  # noqa: E402
                                          check_device, measure, reset_peak_rss)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: label -> config (repository-relative or mmdet:: path); the backbones are measured alone
MODELS = {
    'Focal-T': 'configs/focal/mask_rcnn_focal_t_1x_coco.py',
    'Shunted-T': 'configs/shunted/mask_rcnn_shunted_t_1x_coco.py',
    'DAT-T++': 'configs/dat/mask_rcnn_dat_t_1x_coco.py',
    'SASA-R50': 'configs/sasa/retinanet_sasa_r50_fpn_1x_coco.py',
    'Swin-T': 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    'R-50': 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
}
DEFAULT_SIDES = (256, 384, 512, 640, 768, 1024, 1344)
MODE_LABELS = {'fwd': 'fwd', 'fwdbwd': 'fwd+bwd'}
CSV_FIELDS = ('model', 'config', 'side', 'height', 'width', 'device', 'threads', 'repeat',
              'mode', 'latency_ms', 'images_per_s', 'peak_mem_mb', 'error')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Latency and peak memory of backbones against the image side')
    parser.add_argument('--models', nargs='+', default=list(MODELS),
                        help=f'labels among {list(MODELS)}, or LABEL=CONFIG for any other '
                        'config (its backbone is measured). Default: all six')
    parser.add_argument('--sides', type=int, nargs='+', default=list(DEFAULT_SIDES),
                        help='image heights (pixels)')
    parser.add_argument('--aspect', type=float, default=1.0,
                        help='width / height of every input. Default: 1')
    parser.add_argument('--modes', nargs='+', choices=list(MODE_LABELS),
                        default=list(MODE_LABELS))
    add_device_argument(parser)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--out', default='scaling.png', help='output PNG')
    parser.add_argument('--csv', help='output CSV (default: the PNG path with .csv)')
    parser.add_argument('--replot', metavar='CSV',
                        help='draw the PNG from the rows of an earlier run instead of measuring')
    args = parser.parse_args(argv)
    check_device(parser, args.device)
    if len(args.sides) < 2 or min(args.sides) < 32 or len(set(args.sides)) != len(args.sides):
        parser.error(f'--sides needs at least two different sides of 32 pixels or more, got '
                     f'{args.sides}')
    if args.aspect <= 0 or args.batch < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error('--aspect must be positive, --batch and --repeat at least 1, --warmup '
                     'at least 0')
    models = []
    for entry in args.models:
        label, sep, config = entry.partition('=')
        if not sep:
            if entry not in MODELS:
                parser.error(f'--models: unknown model {entry!r}: choose among {list(MODELS)} '
                             'or pass LABEL=CONFIG')
            config = MODELS[entry]
            if '::' not in config:
                config = osp.join(REPO, config)
        elif '::' not in config and not osp.isfile(config):
            parser.error(f'--models {entry}: config {config} does not exist')
        models.append((label, config))
    args.models = models
    args.sides = sorted(args.sides)
    args.csv = args.csv or osp.splitext(args.out)[0] + '.csv'
    return args


# --------------------------------------------------------------------------- measuring
def _measure_point(model, side, args):
    """``{mode: (ms, images/s, MiB)}`` of one model at one side."""
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, side, round(side * args.aspect), device=args.device)
    if args.device == 'cpu':
        reset_peak_rss()
    return measure(model, lambda m, t: m(t), x, args.device, args.modes, args.warmup,
                   args.repeat)


def run(args):
    """Measure every model at every side; returns the CSV rows (dicts)."""
    rows = []
    for label, config in args.models:
        torch.manual_seed(0)
        model, _, _ = build_for_analysis(config, None, backbone_only=True)
        model.to(args.device)
        model.eval()
        failed = False
        for side in args.sides:
            width = round(side * args.aspect)
            shown = osp.relpath(config, REPO) if config.startswith(REPO + osp.sep) else config
            base = dict(model=label, config=shown, side=side, height=side, width=width,
                        device=args.device, threads=torch.get_num_threads(),
                        repeat=args.repeat)
            if failed:  # larger inputs fail too
                rows += [dict(base, mode=m, error='skipped after a failure') for m in args.modes]
                continue
            try:
                result = _measure_point(model, side, args)
            except (RuntimeError, MemoryError) as e:  # out of memory, most likely
                if args.device == 'cuda':
                    torch.cuda.empty_cache()
                msg = f'{type(e).__name__}: {e}'.splitlines()[0][:200]
                rows += [dict(base, mode=m, error=msg) for m in args.modes]
                print(f'{label} {side}x{width}: {msg}', flush=True)
                failed = True
                continue
            for mode in args.modes:
                ms, ips, mem = result[mode]
                rows.append(dict(base, mode=mode, latency_ms=round(ms, 3),
                                 images_per_s=round(ips, 3), peak_mem_mb=round(mem, 1),
                                 error=''))
            print(f'{label} {side}x{width}: ' + ', '.join(
                f'{MODE_LABELS[m]} {result[m][0]:.1f} ms {result[m][2]:.0f} MiB'
                for m in args.modes), flush=True)
        del model
    return rows


# --------------------------------------------------------------------------- plotting
def slope(sides, values):
    """Least-squares slope of log(value) against log(side); None with fewer than two
    positive points."""
    pts = [(s, v) for s, v in zip(sides, values)
           if v is not None and math.isfinite(v) and v > 0]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def device_name(device, threads):
    if device == 'cuda':
        return torch.cuda.get_device_name()
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            name = next(line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'{name}, {threads} threads'


def plot(rows, args, out):
    fig, axes = plt.subplots(1, 2, figsize=(13, 7), dpi=100)
    colors = plt.get_cmap('tab10').colors
    quantities = (('latency_ms', 'latency (ms, median)'),
                  ('peak_mem_mb', 'peak memory (MiB)'))
    for ax, (key, ylabel) in zip(axes, quantities):
        for i, (label, _) in enumerate(args.models):
            for mode in args.modes:
                pts = sorted((r['side'], r[key]) for r in rows
                             if r['model'] == label and r['mode'] == mode and not r['error']
                             and r[key] > 0)
                if not pts:
                    continue
                sides, values = zip(*pts)
                k = slope(sides, values)
                ax.plot(sides, values, color=colors[i % len(colors)],
                        ls='-' if mode == 'fwd' else '--', marker='o', ms=3,
                        label=f'{label} {MODE_LABELS[mode]}'
                              + ('' if k is None else f' (slope {k:.2f})'))
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xticks(args.sides)
        ax.set_xticklabels([str(s) for s in args.sides], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel('image side (pixels)' + (f', width = {args.aspect:g} x side'
                                               if args.aspect != 1 else ''))
        ax.set_ylabel(ylabel)
        ax.grid(True, which='major', alpha=0.3)
        if ax.lines:  # below the axes, so that it hides no line
            ax.legend(fontsize=7.5, ncol=2, loc='upper center', bbox_to_anchor=(0.5, -0.1),
                      handlelength=3, frameon=False)
    mem = ('torch.cuda.max_memory_allocated' if args.device == 'cuda'
           else 'peak resident memory growth')
    first = rows[0]
    fig.suptitle(f'Backbones alone, batch {args.batch}, {args.device} '
                 f'({device_name(args.device, first["threads"])}), median of '
                 f'{first["repeat"]}; memory: {mem}', fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(out)
    plt.close(fig)


def write_csv(rows, path):
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, restval='')
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path, args):
    """Rows of an earlier run; the models, sides and modes of ``args`` become theirs."""
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f'--replot {path}: no rows')
    for r in rows:
        for key in ('side', 'height', 'width', 'threads', 'repeat'):
            r[key] = int(r[key])
        for key in ('latency_ms', 'images_per_s', 'peak_mem_mb'):
            r[key] = float(r[key]) if r[key] else float('nan')
    args.models = list(dict.fromkeys((r['model'], r['config']) for r in rows))
    args.sides = sorted({r['side'] for r in rows})
    args.modes = [m for m in MODE_LABELS if any(r['mode'] == m for r in rows)]
    args.device = rows[0]['device']
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.replot:
        rows = read_csv(args.replot, args)
    else:
        rows = run(args)
        write_csv(rows, args.csv)
    plot(rows, args, args.out)
    print(f'wrote {args.out}' + ('' if args.replot else f' and {args.csv}'))
    return rows


if __name__ == '__main__':
    main()
