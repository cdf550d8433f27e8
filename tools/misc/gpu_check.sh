#!/usr/bin/env bash
# Run tools/misc/gpu_check.py on a GPU machine that has Python with torch 2.11 but no package
# registry, and write one report.
#
#   bash tools/misc/gpu_check.sh [REPORT.md] [-- extra gpu_check.py arguments]
#
# The OpenMMLab packages come from the wheels folder made beforehand by
# tools/misc/pack_gpu_check.sh on a machine with a registry (default: shared/gpu_check_wheels;
# MMVIT_GPU_WHEELS overrides). They are installed with --no-index into a virtualenv that sees
# the machine's own torch (--system-site-packages), so nothing is downloaded and the machine's
# torch is used as it is. mmcv comes without compiled ops (mmcv-lite): the backbones need only
# mmcv.cnn, and Swin-T is mmpretrain's; an mmcv already importable there is used instead.
#
# Environment: PYTHON (default python3), MMVIT_GPU_WHEELS, MMVIT_GPU_VENV (default
# /tmp/mmvit_gpu_check_venv).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REPORT=${1:-$ROOT/gpu_check_report.md}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
PY=${PYTHON:-python3}
WHEELS=${MMVIT_GPU_WHEELS:-$ROOT/shared/gpu_check_wheels}
VENV=${MMVIT_GPU_VENV:-/tmp/mmvit_gpu_check_venv}

die() { printf '[gpu_check] ERROR: %s\n' "$*" >&2; exit 2; }
say() { printf '[gpu_check] %s\n' "$*"; }

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU ' \
    || die "no NVIDIA GPU found (nvidia-smi -L lists none): run this on a GPU machine; to check the script itself on CPU run: python tools/misc/gpu_check.py --device cpu --dry-run"
command -v "$PY" >/dev/null 2>&1 || die "no $PY: set PYTHON to the interpreter that has torch"
"$PY" - <<'PYEOF' || die "$PY has no torch 2.11 that sees the GPU (see above)"
import sys, torch
print(f'[gpu_check] torch {torch.__version__}, CUDA {torch.version.cuda}, '
      f'GPU visible: {torch.cuda.is_available()}')
sys.exit(0 if torch.__version__.startswith('2.11') and torch.cuda.is_available() else 1)
PYEOF

if [ ! -x "$VENV/bin/python" ]; then
    say "virtualenv $VENV (with the system's torch)"
    "$PY" -m venv --system-site-packages "$VENV" || die "could not create a virtualenv with $PY"
fi
VPY=$VENV/bin/python
if ! "$VPY" -c "import mmengine, mmcv.cnn, mmpretrain" 2>/dev/null; then
    [ -d "$WHEELS" ] || die "OpenMMLab packages missing and no wheels folder $WHEELS: run tools/misc/pack_gpu_check.sh on a machine with a package registry and bring its folder along"
    say "installing the carried wheels from $WHEELS (no index)"
    # --no-deps: what the folder lacks (numpy, opencv, matplotlib, ...) must be there already,
    # and the import check below names it
    "$VPY" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl \
        || die "pip could not install the wheels in $WHEELS"
fi
"$VPY" -c "import mmengine, mmcv.cnn, mmpretrain.models" \
    || die "an import failed (see above): add the missing package's wheel to $WHEELS"
say "running the checks (report: $REPORT)"
cd "$ROOT"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$VPY" tools/misc/gpu_check.py --out "$REPORT" "$@"
