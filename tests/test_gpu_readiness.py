"""What can be checked of the GPU path without a GPU: the CUDA detection of
tools/setup_env.sh (with fake nvidia-smi / nvcc) and tools/misc/gpu_check.{sh,py}."""
import os
import os.path as osp
import subprocess
import sys

import pytest
from utils import REPO

sys.path.insert(0, osp.join(REPO, 'tools', 'misc'))
import gpu_check  # noqa: E402

NVIDIA_SMI_GPU = "#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)'\n"
NVIDIA_SMI_NONE = ("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate "
                   "with the NVIDIA driver.'\nexit 9\n")
NVCC = "#!/bin/sh\necho 'Cuda compilation tools, release 12.4, V12.4.131'\n"


def _fake(tmp_path, nvidia_smi, nvcc):
    """A PATH with the fake tools first and a CUDA_HOME with or without nvcc."""
    bin_dir, cuda = tmp_path / 'bin', tmp_path / 'cuda'
    (cuda / 'bin').mkdir(parents=True)
    bin_dir.mkdir()
    for folder, name, text in ((bin_dir, 'nvidia-smi', nvidia_smi), (cuda / 'bin', 'nvcc', nvcc)):
        if text:
            (folder / name).write_text(text)
            (folder / name).chmod(0o755)
    return dict(os.environ, PATH=f'{bin_dir}:/usr/bin:/bin', CUDA_HOME=str(cuda))


def _build_target(env):
    return subprocess.run(['bash', 'tools/setup_env.sh', '--print-build-target'], cwd=REPO,
                          env=env, capture_output=True, text=True, check=True)


@pytest.mark.parametrize('smi, nvcc, force, target, warns', [
    (NVIDIA_SMI_GPU, NVCC, None, 'cuda12.4', False),
    (NVIDIA_SMI_GPU, None, None, 'cpu', True),
    (NVIDIA_SMI_NONE, NVCC, None, 'cpu', False),
    (None, NVCC, None, 'cpu', False),
    (NVIDIA_SMI_GPU, NVCC, '0', 'cpu', False),
    (None, NVCC, '1', 'cuda12.4', False),
])
def test_setup_env_builds_cuda_ops_when_gpu_and_nvcc_are_there(tmp_path, smi, nvcc, force,
                                                               target, warns):
    env = _fake(tmp_path, smi, nvcc)
    env.pop('FORCE_CUDA', None)
    if force is not None:
        env['FORCE_CUDA'] = force
    proc = _build_target(env)
    assert proc.stdout.strip() == target
    assert ('GPU(s) found but no nvcc' in proc.stderr) == warns, proc.stderr


def test_setup_env_force_cuda_without_nvcc_is_an_error(tmp_path):
    env = dict(_fake(tmp_path, NVIDIA_SMI_GPU, None), FORCE_CUDA='1')
    proc = subprocess.run(['bash', 'tools/setup_env.sh', '--print-build-target'], cwd=REPO,
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and 'FORCE_CUDA=1 but no nvcc found' in proc.stderr


def test_gpu_check_sh_says_clearly_there_is_no_gpu(tmp_path):
    env = _fake(tmp_path, NVIDIA_SMI_NONE, None)
    proc = subprocess.run(['bash', 'tools/misc/gpu_check.sh', str(tmp_path / 'r.md')],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert 'no NVIDIA GPU found' in proc.stderr and '--device cpu --dry-run' in proc.stderr
    assert not (tmp_path / 'r.md').exists()


def test_gpu_check_py_refuses_cuda_without_a_gpu(capsys):
    with pytest.raises(SystemExit) as e:
        gpu_check.main(['--out', 'unused.md'])
    assert e.value.code == 2 and 'no CUDA device' in capsys.readouterr().err


def test_gpu_check_py_dry_run_on_cpu_writes_the_report(tmp_path):
    report = tmp_path / 'report.md'
    assert gpu_check.main(['--device', 'cpu', '--dry-run', '--out', str(report)]) == 0
    text = report.read_text()
    for name in gpu_check.FAMILIES:
        assert text.count(f'| {name} |') == 3  # parity row, fp16 and bf16 rows
    assert 'FAIL' not in text and text.rstrip().endswith('all checks passed')
