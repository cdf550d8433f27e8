"""tools/deployment/pytorch2onnx.py: every family's backbone exported and run with
onnxruntime, against the PyTorch backbone (default fast path) with the same weights."""
import os.path as osp
import sys

import onnxruntime as ort
import pytest
import torch
from test_backbone_contract import ALL, FAMILIES, build, randomise
from utils import REPO

sys.path.insert(0, osp.join(REPO, 'tools', 'deployment'))
import pytorch2onnx  # noqa: E402

# families whose graph holds at any input size (pytorch2onnx.DYNAMIC_HW)
DYNAMIC = ('sasa', )


def _config(tmp_path, family):
    path = tmp_path / f'{family}.py'
    cfg = FAMILIES[family]['cfg']
    path.write_text(f"default_scope = 'mmdet'\nmodel = dict(backbone={cfg!r})\n")
    return str(path)


def _run(path, x):
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return [torch.from_numpy(o) for o in sess.run(None, {'input': x.numpy()})]


def _rel(got, want):
    return max(float((g - w).abs().max() / w.abs().max()) for g, w in zip(got, want))


@pytest.mark.parametrize('family', ALL)
def test_backbone_export_matches_pytorch(family, tmp_path):
    model = randomise(build(family)).eval()
    ckpt = str(tmp_path / 'detector.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in model.state_dict().items()}},
               ckpt)
    out = str(tmp_path / f'{family}.onnx')
    args = [_config(tmp_path, family), ckpt, '--shape', '64', '64', '--out', out,
            '--backbone-only']
    pytorch2onnx.main(args + (['--dynamic'] if family in DYNAMIC else []))
    sizes = [(64, 64)] + ([(96, 80)] if family in DYNAMIC else [])
    for h, w in sizes:
        x = torch.randn(2 if family in DYNAMIC else 1, 3, h, w)
        with torch.no_grad():
            want = model(x)
        got = _run(out, x)
        assert [g.shape for g in got] == [w_.shape for w_ in want]
        assert _rel(got, want) <= 1e-4, (family, h, w)


def test_export_refuses_what_it_cannot_do(tmp_path, capsys):
    cfg = _config(tmp_path, 'focal')
    out = str(tmp_path / 'x.onnx')
    with pytest.raises(SystemExit, match='builds its attention layout per input size'):
        pytorch2onnx.main([cfg, '--out', out, '--backbone-only', '--dynamic'])
    with pytest.raises(SystemExit, match='mmdeploy'):
        pytorch2onnx.main([cfg, '--out', out])
    other = tmp_path / 'dat.pth'
    torch.save({'state_dict': build('dat').state_dict()}, other)
    with pytest.raises(SystemExit, match='dat.pth'):
        pytorch2onnx.main([cfg, str(other), '--out', out, '--backbone-only'])
