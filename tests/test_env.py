"""The two-command set-up: idempotent, mmcv cached per torch version, CI runs the README's
test command."""
import glob
import os
import os.path as osp
import subprocess
import sys

import torch

from utils import REPO


def test_setup_env_second_run_is_a_no_op():
    env = dict(os.environ, MMVIT_VENV=osp.dirname(osp.dirname(sys.executable)))
    proc = subprocess.run(['bash', osp.join(REPO, 'tools', 'setup_env.sh')], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'environment up to date' in proc.stdout  # nothing was installed again


def test_mmcv_wheel_cache_is_keyed_by_python_and_torch():
    root = os.environ.get('MMVIT_WHEEL_CACHE') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'), 'mmvit_plugins', 'wheels')
    tag = f'cp{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}'
    assert glob.glob(osp.join(root, f'{tag}-*', 'mmcv-2.1.0-*.whl')), \
        f'no cached mmcv wheel for {tag} under {root}'
    import mmcv
    from mmcv.ops import RoIAlign, nms  # noqa: F401  (the compiled ops load)
    assert mmcv.__version__ == '2.1.0'


def test_ci_runs_exactly_the_readme_test_command():
    with open(osp.join(REPO, '.ci', 'run')) as f:
        commands = [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
    assert commands[-1] == 'make test'
    assert all(c.startswith(('set ', 'cd ')) for c in commands[:-1])
    with open(osp.join(REPO, 'README.md')) as f:
        assert 'make test' in f.read()
