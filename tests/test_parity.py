"""Parity with the official implementations (tests/data/parity/README.md): for every fixture,
the mmpretrain classifier built by ``classifier_cfg`` with the ``convert``-ed official weights
(strict load) reproduces the official logits, and its backbone reproduces the official stage
features, within 1e-4, on the fast and the reference path."""
import os.path as osp
import re

import pytest
import torch
from utils import (build_mmpretrain, load_parity_fixture, max_abs_diff, parity_fixture_paths,
                   run_tool)

from mmvit_plugins.converters import dat, focal, shunted
from mmvit_plugins.converters.common import backbone_only

ATOL = 1e-4
# fixture prefix -> (converter, whether the official stage features carry the output norms)
FAMILIES = {'focal': (focal, False), 'shunted': (shunted, True), 'datpp': (dat, False)}
CASES = [(prefix, path) for prefix in FAMILIES for path in parity_fixture_paths(prefix)]


@pytest.mark.parametrize('prefix, path', CASES, ids=[osp.basename(p)[:-3] for _, p in CASES])
@pytest.mark.parametrize('attn_impl', ['fast', 'reference'])
def test_parity_with_official(prefix, path, attn_impl):
    conv, stage_norms = FAMILIES[prefix]
    fx = load_parity_fixture(path)
    cfg = conv.classifier_cfg(fx['config'])
    cfg['backbone']['attn_impl'] = attn_impl
    model = build_mmpretrain(cfg).eval()
    state_dict = conv.convert(fx['state_dict'])
    model.load_state_dict(state_dict, strict=True)  # raises on any missing/unexpected key
    with torch.no_grad():
        logits = model(fx['input'], mode='tensor')
    d = max_abs_diff(logits, fx['logits'])
    assert d <= ATOL, f'logits differ by {d}'

    backbone_cfg = dict(cfg['backbone'], out_indices=(0, 1, 2, 3))
    weights = backbone_only(state_dict)
    if not stage_norms:  # the official stage features carry no norm: output norms off
        backbone_cfg['out_norm'] = False
        weights = {k: v for k, v in weights.items() if not re.match(r'norm\d\.', k)}
    backbone = build_mmpretrain(backbone_cfg).eval()
    backbone.load_state_dict(weights, strict=True)
    with torch.no_grad():
        outs = backbone(fx['input'])
    assert len(outs) == 4
    for i, out in enumerate(outs):
        d = max_abs_diff(out, fx[f'stage{i}'])
        assert d <= ATOL, f'stage{i} differs by {d}'


@pytest.mark.parametrize('prefix', list(FAMILIES))
def test_official_checkpoints_convert_and_load(prefix, tmp_path):
    """The converter CLI writes a classifier and a backbone checkpoint; the backbone one and
    the official file itself (converted on loading) initialise a backbone through init_cfg;
    another family's file is refused."""
    conv, stage_norms = FAMILIES[prefix]
    fx = load_parity_fixture(parity_fixture_paths(prefix)[0])
    tool = f'model_converters/{conv.__name__.rsplit(".", 1)[1]}2mmvit.py'
    src = tmp_path / 'official.pth'
    torch.save({'model': {'module.' + k: v for k, v in fx['state_dict'].items()},
                'args': {'lr': 1e-3}}, src)
    full, bb = tmp_path / 'full.pth', tmp_path / 'backbone.pth'
    run_tool([tool, src, full])
    run_tool([tool, src, bb, '--backbone-only'])
    full_sd = torch.load(full, weights_only=True)['state_dict']
    bb_sd = torch.load(bb, weights_only=True)['state_dict']
    assert 'head.fc.weight' in full_sd and 'backbone.norm3.weight' in full_sd
    assert 'norm3.weight' in bb_sd and not any(k.startswith(('head', 'backbone')) for k in bb_sd)
    assert {'backbone.' + k for k in bb_sd} == {k for k in full_sd if k.startswith('backbone.')}

    for checkpoint in (bb, src):
        cfg = dict(conv.classifier_cfg(fx['config'])['backbone'], out_indices=(3, ),
                   init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
        if not stage_norms:
            cfg['out_norm'] = False
        backbone = build_mmpretrain(cfg)
        backbone.init_weights()
        with torch.no_grad():
            out = backbone.eval()(fx['input'])[0]
        assert max_abs_diff(out, fx['stage3']) <= ATOL, checkpoint

    other = tmp_path / 'other.pth'
    torch.save({'model': {'conv1.weight': torch.zeros(2, 3, 4, 4)}}, other)
    proc = run_tool([tool, other, tmp_path / 'x.pth'], check=False)
    assert proc.returncode != 0 and f'not a {conv.FAMILY}' in proc.stderr
    assert not (tmp_path / 'x.pth').exists()
