"""DAT++ parity with the official LeapLabTHU/DAT outputs (every datpp_* fixture)."""
import os.path as osp

import pytest
import torch
from utils import build_mmpretrain, load_parity_fixture, max_abs_diff, parity_fixture_paths

from mmvit_plugins.converters.dat import classifier_cfg, convert
from mmvit_plugins.models.backbones.dat import DAT

FIXTURES = parity_fixture_paths('datpp')
TOL = 1e-4


@pytest.mark.parametrize('path', FIXTURES, ids=[osp.basename(p)[:-3] for p in FIXTURES])
@pytest.mark.parametrize('attn_impl', ['fast', 'reference'])
def test_parity(path, attn_impl):
    fx = load_parity_fixture(path)
    cfg = classifier_cfg(fx['config'])
    cfg['backbone']['attn_impl'] = attn_impl
    model = build_mmpretrain(cfg).eval()
    converted = convert(fx['state_dict'])
    model.load_state_dict(converted, strict=True)
    with torch.no_grad():
        logits = model(fx['input'], mode='tensor')
    d = max_abs_diff(logits, fx['logits'])
    assert d <= TOL, f'logits differ by {d}'

    bcfg = {k: v for k, v in cfg['backbone'].items() if k != 'type'}
    bcfg.update(out_indices=(0, 1, 2, 3), out_norm=False)
    backbone = DAT(**bcfg).eval()
    res = backbone.load_state_dict(
        {k[len('backbone.'):]: v for k, v in converted.items()
         if k.startswith('backbone.') and not k.startswith('backbone.norm')}, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    with torch.no_grad():
        outs = backbone(fx['input'])
    for i, out in enumerate(outs):
        d = max_abs_diff(out, fx[f'stage{i}'])
        assert d <= TOL, f'stage{i} differs by {d}'
