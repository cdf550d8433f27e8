"""Parity of ShuntedTransformer with the official SSA.py outputs (../shared/parity/shunted_*.pt)
through the converter API, and the converter CLI."""
import os.path as osp

import pytest
import torch
from utils import (build_mmpretrain, load_parity_fixture, max_abs_diff, parity_fixture_paths,
                   run_tool)

from mmvit_plugins.converters import shunted as conv
from mmvit_plugins.converters.common import backbone_only

ATOL = 1e-4
FIXTURES = parity_fixture_paths('shunted')


def _stage_as_map(ref, out):
    """Fixtures store NCHW maps; accept (B, N, C) tokens too (same content)."""
    if ref.dim() == 3:
        return ref.transpose(1, 2).reshape(out.shape)
    return ref


@pytest.mark.parametrize('path', FIXTURES, ids=[osp.basename(p)[:-3] for p in FIXTURES])
@pytest.mark.parametrize('attn_impl', ['fast', 'reference'])
def test_parity_with_official(path, attn_impl):
    fx = load_parity_fixture(path)
    cfg = conv.classifier_cfg(fx['config'])
    cfg['backbone']['attn_impl'] = attn_impl
    model = build_mmpretrain(cfg).eval()
    state_dict = conv.convert(fx['state_dict'])
    model.load_state_dict(state_dict, strict=True)  # raises on any missing/unexpected key
    with torch.no_grad():
        logits = model(fx['input'], mode='tensor')
    assert max_abs_diff(logits, fx['logits']) <= ATOL

    backbone_cfg = dict(cfg['backbone'], out_indices=(0, 1, 2, 3))
    backbone = build_mmpretrain(backbone_cfg).eval()
    backbone.load_state_dict(backbone_only(state_dict), strict=True)
    with torch.no_grad():
        outs = backbone(fx['input'])
    assert len(outs) == 4
    for i, out in enumerate(outs):
        ref = _stage_as_map(fx[f'stage{i}'], out)
        assert max_abs_diff(out, ref) <= ATOL, f'stage{i}'


def test_classifier_cfg_reads_official_arguments():
    cfg = conv.classifier_cfg('shunted_s')
    b = cfg['backbone']
    assert b['arch']['depths'] == [2, 4, 12, 1] and b['arch']['num_conv'] == 1
    assert b['norm_eps'] == 1e-6 and b['qkv_bias'] is True
    assert cfg['head']['num_classes'] == 1000 and cfg['head']['in_channels'] == 512
    # the constructor's own default norm layer is nn.LayerNorm (eps 1e-5)
    assert conv.classifier_cfg(dict(num_classes=3))['backbone']['norm_eps'] == 1e-5
    import functools
    part = functools.partial(torch.nn.LayerNorm, eps=1e-6)
    assert conv.backbone_kwargs(dict(norm_layer=part))['norm_eps'] == 1e-6
    with pytest.raises(ValueError, match='unknown official ShuntedTransformer arguments'):
        conv.classifier_cfg(dict(embed_dim=64))
    with pytest.raises(ValueError, match='unknown official model'):
        conv.classifier_cfg('shunted_xl')


def _official_tiny():
    return load_parity_fixture(FIXTURES[0])


def test_convert_unwraps_containers_and_rejects_other_families():
    fx = _official_tiny()
    sd = fx['state_dict']
    plain = conv.convert(sd)
    assert set(plain) == {('head.fc.' + k[5:]) if k.startswith('head.') else 'backbone.' + k
                          for k in sd}
    wrapped = conv.convert({'model': {'module.' + k: v for k, v in sd.items()}, 'epoch': 3})
    assert list(wrapped) == list(plain)
    with pytest.raises(ValueError, match='not a Shunted Transformer'):
        conv.convert({'layers.0.blocks.0.attn.qkv.weight': torch.zeros(3, 3)})
    with pytest.raises(ValueError, match='already in the mmvit_plugins layout'):
        conv.convert(plain)


def test_converted_checkpoint_of_another_size_fails_loudly():
    fx = _official_tiny()
    cfg = conv.classifier_cfg(dict(fx['config'], depths=[1, 1, 2, 1]))
    model = build_mmpretrain(cfg)
    with pytest.raises(RuntimeError, match='Missing key'):
        model.load_state_dict(conv.convert(fx['state_dict']), strict=True)
    wider = dict(fx['config'], embed_dims=[64, 64, 128, 128])
    model = build_mmpretrain(conv.classifier_cfg(wider))
    with pytest.raises(RuntimeError, match='size mismatch'):
        model.load_state_dict(conv.convert(fx['state_dict']), strict=True)


def test_cli_converts_official_files(tmp_path):
    fx = _official_tiny()
    src = tmp_path / 'official.pth'
    torch.save({'model': {'module.' + k: v for k, v in fx['state_dict'].items()},
                'args': {'lr': 1e-3}}, src)
    full, bb = tmp_path / 'full.pth', tmp_path / 'backbone.pth'
    run_tool(['model_converters/shunted2mmvit.py', src, full])
    run_tool(['model_converters/shunted2mmvit.py', src, bb, '--backbone-only'])
    full_sd = torch.load(full, weights_only=True)['state_dict']
    bb_sd = torch.load(bb, weights_only=True)['state_dict']
    assert 'head.fc.weight' in full_sd and 'backbone.norm4.weight' in full_sd
    assert 'norm4.weight' in bb_sd and not any(k.startswith(('head', 'backbone')) for k in bb_sd)

    # the backbone-only file initialises a backbone through init_cfg, reproducing stage 3
    cfg = conv.classifier_cfg(fx['config'])['backbone']
    cfg.update(out_indices=(3, ), init_cfg=dict(type='Pretrained', checkpoint=str(bb)))
    backbone = build_mmpretrain(cfg)
    backbone.init_weights()
    with torch.no_grad():
        out = backbone.eval()(fx['input'])[0]
    assert max_abs_diff(out, fx['stage3']) <= ATOL

    # a checkpoint of another family fails with a message naming the problem
    other = tmp_path / 'other.pth'
    torch.save({'model': {'patch_embed.proj.weight': torch.zeros(2, 3, 4, 4)}}, other)
    proc = run_tool(['model_converters/shunted2mmvit.py', other, tmp_path / 'x.pth'],
                    check=False)
    assert proc.returncode != 0 and 'not a Shunted Transformer' in proc.stderr
    assert not (tmp_path / 'x.pth').exists()
