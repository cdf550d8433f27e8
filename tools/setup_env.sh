#!/usr/bin/env bash
# Create or update the project's virtualenv (.venv) with the pinned OpenMMLab stack.
#
# Idempotent: when nothing changed since the last successful run it returns in seconds.
# mmcv 2.1.0 is compiled from the PyPI sdist with its C++ ops (about 10 minutes on 2 cores);
# the built wheel is cached outside the repository, in a folder keyed by Python ABI and the
# exact torch version, so the build happens once per machine and a wheel is never installed
# next to a torch it was not built against (that fails with `undefined symbol` at import).
#
# Environment:
#   PYTHON              interpreter for a new venv (default: python3.11, else python3)
#   MMVIT_VENV          venv folder (default: <repo>/.venv)
#   MMVIT_WHEEL_CACHE   wheel cache root (default: ${XDG_CACHE_HOME:-~/.cache}/mmvit_plugins/wheels)
#   FORCE_CUDA          1: build mmcv's CUDA ops, 0: CPU ops only; default: 1 when `nvidia-smi -L`
#                       lists a GPU and nvcc is found ($CUDA_HOME/bin, else PATH, else
#                       /usr/local/cuda/bin), else 0
#   TORCH_CUDA_ARCH_LIST, MAX_JOBS   passed to the mmcv build
#
# `tools/setup_env.sh --print-build-target` prints what the mmcv build would target (`cpu` or
# `cuda<nvcc version>`) and exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMVIT_VENV:-$ROOT/.venv}
STAMP=$VENV/.mmvit_env_stamp
MMCV_VERSION=2.1.0

say() { printf '[setup_env] %s\n' "$*"; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }

# The nvcc that torch's extension builder would use, or nothing.
find_nvcc() {
    if [ -n "${CUDA_HOME:-}" ]; then
        [ -x "$CUDA_HOME/bin/nvcc" ] && echo "$CUDA_HOME/bin/nvcc"
        return 0
    fi
    command -v nvcc 2>/dev/null && return 0
    [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc
    return 0
}

# `cpu` or `cuda<nvcc release>` (e.g. cuda12.8): what mmcv's ops are compiled for. Also the tag
# of the wheel cache, so a CPU build is never reused on a GPU machine or the reverse.
build_target() {
    local gpus=0 nvcc ver
    if command -v nvidia-smi >/dev/null 2>&1; then
        gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
    fi
    nvcc=$(find_nvcc)
    ver=
    [ -n "$nvcc" ] && ver=$("$nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p' | head -n 1)
    case "${FORCE_CUDA:-auto}" in
        1) [ -n "$ver" ] || die "FORCE_CUDA=1 but no nvcc found (set CUDA_HOME to the CUDA toolkit)"
           echo "cuda$ver" ;;
        0) echo cpu ;;
        *) if [ "$gpus" -gt 0 ] && [ -n "$ver" ]; then
               echo "cuda$ver"
           else
               if [ "$gpus" -gt 0 ]; then
                   printf '[setup_env] WARNING: %s GPU(s) found but no nvcc: mmcv is built with CPU ops only (the backbones run on the GPU; mmdet RoI ops and NMS then run on CPU or fail). Install the CUDA toolkit matching torch (python -c "import torch; print(torch.version.cuda)"), set CUDA_HOME and run make env again.\n' "$gpus" >&2
               fi
               echo cpu
           fi ;;
    esac
}

if [ "${1:-}" = "--print-build-target" ]; then
    build_target
    exit 0
fi
target=$(build_target)

# Everything that defines the environment; a change to any of these re-runs the install.
wanted=$( (cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "${BASH_SOURCE[0]}"; echo "$target") \
    | sha256sum | cut -c1-16)

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] \
    && "$VENV/bin/python" -c "import mmcv._ext, mmvit_plugins" 2>/dev/null; then
    say "environment up to date ($VENV)"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    PY=${PYTHON:-}
    if [ -z "$PY" ]; then
        if command -v python3.11 >/dev/null; then PY=python3.11; else PY=python3; fi
    fi
    say "creating virtualenv $VENV with $PY"
    "$PY" -m venv "$VENV" || die "could not create a virtualenv with $PY (install python3-venv)"
fi
PIP=("$VENV/bin/python" -m pip)
PYBIN="$VENV/bin/python"

say "build tools (setuptools<82 keeps pkg_resources for mmcv's setup.py and mmengine 0.10.7)"
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"
say "torch stack"
"${PIP[@]}" install -q -r "$ROOT/requirements/torch.txt"
# opencv headless first: mmcv's and mmengine's setup.py then keep it instead of opencv-python
"${PIP[@]}" install -q -r "$ROOT/requirements/runtime.txt"

# the installed mmcv's ops: "cpu" or "cuda<version>" (as get_compiling_cuda_version reports it)
installed_ops=$("$PYBIN" -c "
import mmcv, mmcv._ext
assert mmcv.__version__ == '$MMCV_VERSION'
from mmcv.ops import get_compiling_cuda_version as v
print('cpu' if v() == 'not available' else 'cuda' + v())" 2>/dev/null || true)
if [ -z "$installed_ops" ] || [ "${installed_ops%%.*}" != "${target%%.*}" ]; then
    torch_ver=$("$PYBIN" -c "import torch; print(torch.__version__)")
    py_tag=$("$PYBIN" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
    cache_root=${MMVIT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmvit_plugins/wheels}
    cache="$cache_root/${py_tag}-torch${torch_ver}-${target}"
    wheel=$(ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$wheel" ]; then
        say "compiling mmcv $MMCV_VERSION with $target ops against torch $torch_ver (CPU ops: about 10 min on 2 cores)"
        tmp=$(mktemp -d)
        cuda=0
        [ "$target" != cpu ] && cuda=1
        MMCV_WITH_OPS=1 FORCE_CUDA=$cuda MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            "${PIP[@]}" wheel --no-build-isolation --no-cache-dir --no-deps -w "$tmp" \
            "mmcv==$MMCV_VERSION" > "$tmp/build.log" 2>&1 \
            || { tail -n 40 "$tmp/build.log"; die "mmcv build failed; full log: $tmp/build.log"; }
        mkdir -p "$cache"
        mv "$tmp"/mmcv-"$MMCV_VERSION"-*.whl "$cache/"
        wheel=$(ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
        say "cached $wheel"
    else
        say "re-using cached mmcv wheel $wheel"
    fi
    "${PIP[@]}" install -q --force-reinstall --no-deps "$wheel"
    "${PIP[@]}" install -q "$wheel"   # its pure-Python dependencies (addict, yapf, ...)
fi
"$PYBIN" -c "from mmcv.ops import nms, RoIAlign" 2>/dev/null || die \
    "mmcv was installed without working ops ('from mmcv.ops import nms, RoIAlign' fails). \
Delete the cached wheel under ${MMVIT_WHEEL_CACHE:-~/.cache/mmvit_plugins/wheels} and run 'make env' again."

say "OpenMMLab toolboxes"
"${PIP[@]}" install -q -r "$ROOT/requirements/mminstall.txt" -r "$ROOT/requirements/tests.txt" \
    -r "$ROOT/requirements/optional.txt"
# The toolboxes must not have replaced the pinned torch or mmcv.
"$PYBIN" - <<'EOF' || die "a dependency replaced the pinned torch/mmcv; see the message above"
import torch, mmcv
assert torch.__version__.split('+')[0] == '2.11.0', torch.__version__
assert mmcv.__version__ == '2.1.0', mmcv.__version__
EOF
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
"$PYBIN" -c "import mmvit_plugins, mmdet, mmseg, mmpretrain.models" || die "import check failed"
echo "$wanted" > "$STAMP"
say "environment ready: $VENV"
