#!/usr/bin/env bash
# Prepare the wheels tools/misc/gpu_check.sh installs on a GPU machine without a package
# registry. Run here, in the project's environment (make env), with registry access:
#
#   bash tools/misc/pack_gpu_check.sh [OUT]     # default OUT: shared/gpu_check_wheels
#
# Pure-Python wheels only (a few MB, any Python 3 and platform): the OpenMMLab packages at the
# versions installed in .venv, their small pure-Python dependencies, and mmcv-lite 2.1.0
# (mmcv without compiled ops). The GPU machine's own numpy, opencv, matplotlib, scipy...
# are used; torch is never carried.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$ROOT/shared/gpu_check_wheels}
PY=${MMVIT_VENV:-$ROOT/.venv}/bin/python
[ -x "$PY" ] || { echo "[pack_gpu_check] ERROR: no $PY: run make env first" >&2; exit 2; }

# what mmvit_plugins' backbones, the analysis tools and mmpretrain's Swin-T import, beyond the
# scientific stack every GPU image has
PACKAGES=(mmengine mmpretrain mmdet mmsegmentation addict yapf termcolor terminaltables
          modelindex mat4py ordered-set platformdirs importlib-metadata)
pins=()
for p in "${PACKAGES[@]}"; do
    v=$("$PY" -m pip show "$p" 2>/dev/null | sed -n 's/^Version: //p')
    pins+=("$p${v:+==$v}")
done
mkdir -p "$OUT"
echo "[pack_gpu_check] downloading ${pins[*]}"
"$PY" -m pip wheel -q --no-deps -w "$OUT" "${pins[@]}"
if ls "$OUT"/*.whl | grep -v -- '-none-any\.whl$'; then
    echo "[pack_gpu_check] ERROR: the wheels above are not pure Python" >&2
    exit 1
fi
echo "[pack_gpu_check] mmcv-lite 2.1.0 (mmcv without compiled ops, pure Python)"
"$PY" -m pip download -q --no-deps -d "$OUT" mmcv-lite==2.1.0
ls -1 "$OUT"
du -sh "$OUT"
echo "[pack_gpu_check] done: bring $OUT to the GPU machine and run tools/misc/gpu_check.sh"
