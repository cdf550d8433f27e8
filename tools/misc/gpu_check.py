"""The GPU check of every backbone family, written as one Markdown report.

1. **CUDA vs CPU**: each family's T-size backbone (or, with ``--dry-run``, a small variant)
   runs forward and backward on CPU and on the device with the same weights and input, in
   float32 with TF32 off; outputs and parameter gradients must agree to ``PARITY_TOL``
   (relative: ``||a - b|| / ||b||``).
2. **Autocast**: fp16 and bf16 ``torch.autocast`` training steps on the device must give
   finite outputs and gradients within ``AMP_TOL`` of its float32 step.
3. **Speed**: ``tools/analysis_tools/compare_latency.py`` of each family's T-size backbone
   against Swin-T (mmpretrain's, which needs no compiled mmcv ops), forward and
   forward+backward (skipped with ``--dry-run`` or ``--skip-benchmark``).

    python tools/misc/gpu_check.py --out gpu_report.md          # on a GPU machine
    python tools/misc/gpu_check.py --device cpu --dry-run --out /tmp/report.md

``tools/misc/gpu_check.sh`` prepares the Python environment and runs this. The exit status is
non-zero when a check fails.
"""
import argparse
import contextlib
import io
import os.path as osp
import platform
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PARITY_TOL = 1e-4
#: relative difference of an autocast step to float32 (outputs, gradients): the small
#: variants' as in tests/test_amp_compile.py; the T-size models' measured on CPU at 224x224
#: (largest: DAT++-T's gradients, 0.08 in fp16 and 0.23 in bf16, through its
#: low-precision sampling offsets)
AMP_TOL = {torch.float16: (5e-3, 5e-2), torch.bfloat16: (5e-2, 1e-1)}
AMP_TOL_FULL = {torch.float16: (1e-2, 1.5e-1), torch.bfloat16: (5e-2, 4e-1)}

FAMILIES = {
    # name: (T-size backbone config, small variant for --dry-run, classification config)
    'Focal': (dict(type='FocalTransformer', arch='tiny'),
              dict(type='FocalTransformer',
                   arch=dict(embed_dims=24, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4])),
              'configs/focal/focal_t_in1k.py'),
    'Shunted': (dict(type='ShuntedTransformer', arch='tiny'),
                dict(type='ShuntedTransformer',
                     arch=dict(embed_dims=[32, 32, 32, 64], depths=[1, 1, 1, 1],
                               num_heads=[2, 2, 2, 4], mlp_ratios=[2, 2, 2, 2],
                               sr_ratios=[8, 4, 2, 1], num_conv=1)),
                'configs/shunted/shunted_t_in1k.py'),
    'DAT++': (dict(type='DAT', arch='tiny'),
              dict(type='DAT', arch=dict(stem_channels=16, embed_dims=[16, 32, 64, 128],
                                         depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8],
                                         num_groups=[1, 1, 2, 4], mlp_ratio=2)),
              'configs/dat/dat_t_in1k.py'),
    'SASA': (dict(type='SASAResNet', depth=50),
             dict(type='SASAResNet', depth=26, stage_blocks=(1, 1, 1, 1), stem_channels=16,
                  base_channels=16, attn_cfg=dict(num_heads=4, kernel_size=5)),
             'configs/sasa/sasa_r50_in1k.py'),
}
SWIN_T = 'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Check every family on a GPU (one report)')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'],
                        help='the device checked against CPU (cpu: a dry run of the script)')
    parser.add_argument('--out', default='gpu_check_report.md', help='the Markdown report')
    parser.add_argument('--dry-run', action='store_true',
                        help='small variants at 64x64, no benchmark: checks the script itself')
    parser.add_argument('--shape', type=int, default=224, help='input size of checks 1-2')
    parser.add_argument('--skip-benchmark', action='store_true')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.exit(2, 'gpu_check: no CUDA device is visible to torch '
                    f'(torch {torch.__version__}, built for CUDA {torch.version.cuda}); run it '
                    'on a GPU machine, or pass --device cpu --dry-run to check the script\n')
    return args


def rel(a, b):
    """||a - b|| / ||b|| in float64."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def build(cfg):
    import mmvit_plugins  # noqa: F401  (registers the backbones)
    from mmengine.registry import MODELS
    torch.manual_seed(0)
    # SASA with frozen BatchNorm statistics, as its detectors train (see test_amp_compile.py)
    extra = dict(norm_eval=True) if cfg['type'] == 'SASAResNet' else {}
    return MODELS.build(dict(cfg, drop_path_rate=0.0, **extra))


def train_step(model, x, weights, dtype=None):
    """One forward+backward of a fixed random projection of the outputs; returns the outputs
    (float32) and the flat parameter gradient."""
    model.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        outs = model(x)
    loss = sum((o.float() * w).sum() for o, w in zip(outs, weights))
    loss.backward()
    grad = torch.cat([p.grad.flatten().float() if p.grad is not None
                      else torch.zeros(p.numel(), device=p.device)
                      for p in model.parameters() if p.requires_grad])
    return [o.detach().float() for o in outs], grad


def projection(model, x):
    with torch.no_grad():
        outs = model(x)
    g = torch.Generator().manual_seed(1)
    return [torch.randn(o.shape, generator=g).to(o.device) for o in outs]


def check_family(name, cfg, device, size, amp_tol=AMP_TOL):
    """Rows of the parity and autocast tables for one family."""
    model = build(cfg).train()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    weights = projection(model, x)
    cpu_out, cpu_grad = train_step(model, x, weights)
    model.to(device)
    xd, wd = x.to(device), [w.to(device) for w in weights]
    t0 = time.perf_counter()
    dev_out, dev_grad = train_step(model, xd, wd)
    elapsed = time.perf_counter() - t0
    out_diff = max(rel(a, b) for a, b in zip(dev_out, cpu_out))
    grad_diff = rel(dev_grad, cpu_grad)
    ok = out_diff <= PARITY_TOL and grad_diff <= PARITY_TOL
    parity = (f'| {name} | {out_diff:.1e} | {grad_diff:.1e} | {elapsed:.2f} | '
              f'{"ok" if ok else "FAIL"} |')
    amp = []
    for dtype, (out_tol, grad_tol) in amp_tol.items():
        out, grad = train_step(model, xd, wd, dtype)
        finite = all(torch.isfinite(o).all() for o in out) and bool(torch.isfinite(grad).all())
        od = max(rel(a, b) for a, b in zip(out, dev_out))
        gd = rel(grad, dev_grad)
        amp_ok = finite and od <= out_tol and gd <= grad_tol
        ok = ok and amp_ok
        amp.append(f'| {name} | {str(dtype).split(".")[-1]} | {finite} | {od:.1e} '
                   f'(<= {out_tol:g}) | {gd:.1e} (<= {grad_tol:g}) | '
                   f'{"ok" if amp_ok else "FAIL"} |')
    return parity, amp, ok


def benchmark_rows(device):
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
    import compare_latency
    rows = []
    for name, (_, _, config) in FAMILIES.items():
        for shape, batch in (('224', '16'), ('512', '2')):
            for mode in ('fwd', 'fwdbwd'):
                argv = [osp.join(ROOT, config), SWIN_T, '--labels', f'{name}-T', 'Swin-T',
                        '--backbone-only', '--shape', shape, '--batch', batch, '--mode', mode,
                        '--device', device, '--warmup', '3', '--rounds', '10']
                buf = io.StringIO()
                try:
                    with contextlib.redirect_stdout(buf):
                        compare_latency.main(argv)
                    rows.append(buf.getvalue().strip().splitlines()[-1])
                except Exception as e:  # report it and go on with the other rows
                    rows.append(f'| {name}-T vs Swin-T | {shape} | {mode} | error: '
                                f'{type(e).__name__}: {e} | | | | {device} |')
    return rows


def environment(device):
    import mmcv
    import mmengine
    try:
        from mmcv.ops import get_compiling_cuda_version
        ops = f'compiled ops ({"CUDA " + get_compiling_cuda_version()})'
    except Exception:
        ops = 'no compiled ops (mmcv-lite build)'
    gpu = torch.cuda.get_device_name(0) if device == 'cuda' else 'none (dry run)'
    return [f'- device: {gpu}', f'- torch {torch.__version__} (CUDA {torch.version.cuda}), '
            f'Python {platform.python_version()}',
            f'- mmengine {mmengine.__version__}, mmcv {mmcv.__version__}: {ops}']


def main(argv=None):
    args = parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 parity, not TF32
    torch.backends.cudnn.allow_tf32 = False
    size = 64 if args.dry_run else args.shape
    lines = ['# GPU check', '', *environment(args.device), '',
             f'## 1. {args.device} vs CPU, float32, forward+backward, 2x3x{size}x{size} '
             f'(tolerance {PARITY_TOL:g})', '',
             '| family | outputs rel. diff | gradients rel. diff | step (s) | result |',
             '|---|---|---|---|---|']
    amp_rows, all_ok = [], True
    for name, (full, small, _) in FAMILIES.items():
        parity, amp, ok = check_family(name, small if args.dry_run else full, args.device, size,
                                       AMP_TOL if args.dry_run else AMP_TOL_FULL)
        lines.append(parity)
        amp_rows += amp
        all_ok = all_ok and ok
        print(parity, *amp, sep='\n', flush=True)
    lines += ['', f'## 2. Autocast on {args.device} vs float32 (same device)', '',
              '| family | dtype | finite | outputs rel. diff | gradients rel. diff | result |',
              '|---|---|---|---|---|---|', *amp_rows, '']
    if args.dry_run or args.skip_benchmark:
        lines += ['## 3. Speed against Swin-T', '', 'skipped', '']
    else:
        lines += ['## 3. Speed against Swin-T (backbones, compare_latency.py)', '',
                  '| A vs B | input | mode | A median / min (ms) | B median / min (ms) | '
                  'A/B (median of paired ratios) | A/B range | device |',
                  '|---|---|---|---|---|---|---|---|', *benchmark_rows(args.device), '']
    lines.append(f'Result: {"all checks passed" if all_ok else "SOME CHECKS FAILED"}')
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'report written to {args.out}')
    return 0 if all_ok else 1


if __name__ == '__main__':
    sys.exit(main())
