"""Parity of FocalTransformer with the official focal_transformer.py outputs
(../shared/parity/focal_*.pt) through the converter API, and the converter CLI."""
import os.path as osp

import pytest
import torch
from utils import (build_mmpretrain, load_parity_fixture, max_abs_diff, parity_fixture_paths,
                   run_tool)

from mmvit_plugins.converters import focal as conv
from mmvit_plugins.converters.common import backbone_only

ATOL = 1e-4
FIXTURES = parity_fixture_paths('focal')


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

    # the official stage features carry no norm: output norms off
    backbone_cfg = dict(cfg['backbone'], out_indices=(0, 1, 2, 3), out_norm=False)
    backbone = build_mmpretrain(backbone_cfg).eval()
    # the classifier's norm3 (the official final norm) is not part of this backbone
    backbone.load_state_dict({k: v for k, v in backbone_only(state_dict).items()
                              if not k.startswith('norm3.')}, strict=True)
    with torch.no_grad():
        outs = backbone(fx['input'])
    assert len(outs) == 4
    for i, out in enumerate(outs):
        assert max_abs_diff(out, fx[f'stage{i}']) <= ATOL, f'stage{i}'


def test_structure_follows_the_official_size_rule():
    """At 224 stage 3 (7x7) has no neighbour table; at 256x320 (8x10) it has one, exactly as
    in the official state dicts of the fixtures."""
    for path in FIXTURES:
        fx = load_parity_fixture(path)
        model = build_mmpretrain(conv.classifier_cfg(fx['config']))
        ours = {k for k in model.state_dict()}
        theirs = set(conv.convert(fx['state_dict']))
        assert ours == theirs
    blk = 'backbone.layers.3.blocks.0.attn.relative_position_bias_table_to_neighbors'
    cfg = dict(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 4, 8], num_classes=3,
               focal_levels=[2, 2, 2, 2])
    assert blk not in build_mmpretrain(conv.classifier_cfg(dict(cfg, img_size=224))).state_dict()
    assert blk in build_mmpretrain(conv.classifier_cfg(dict(cfg, img_size=256))).state_dict()


def test_classifier_cfg_reads_official_arguments():
    cfg = conv.classifier_cfg(dict(embed_dim=128, depths=[2, 2, 18, 2],
                                   num_heads=[4, 8, 16, 32], focal_levels=[2, 2, 2, 2],
                                   use_conv_embed=True, drop_path_rate=0.5))
    b = cfg['backbone']
    assert b['arch'] == dict(embed_dims=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32])
    assert b['use_conv_embed'] is True and b['drop_path_rate'] == 0.5
    assert b['focal_levels'] == [2, 2, 2, 2] and b['out_indices'] == (3, )
    assert cfg['head']['in_channels'] == 1024 and cfg['head']['num_classes'] == 1000
    # the official constructor default is focal_levels=[1, 1, 1, 1] (released models use 2)
    assert conv.classifier_cfg({})['backbone']['focal_levels'] == [1, 1, 1, 1]
    with pytest.raises(ValueError, match='unknown official FocalTransformer arguments'):
        conv.classifier_cfg(dict(embed_dims=64))
    with pytest.raises(ValueError, match='ape=True'):
        conv.classifier_cfg(dict(ape=True))


def test_convert_unwraps_containers_and_rejects_other_families():
    fx = load_parity_fixture(FIXTURES[0])
    sd = fx['state_dict']
    plain = conv.convert(sd)
    assert 'head.fc.weight' in plain and 'backbone.norm3.weight' in plain
    assert not any('relative_position_index' in k or 'valid_ind' in k for k in plain)
    from mmvit_plugins.converters.common import unwrap_state_dict
    wrapped = conv.convert(unwrap_state_dict(
        {'model': {'module.' + k: v for k, v in sd.items()}, 'epoch': 3}))
    assert list(wrapped) == list(plain)
    swin = {k.replace('downsample.proj', 'downsample.reduction'): v for k, v in sd.items()}
    with pytest.raises(ValueError, match='Swin Transformer'):
        conv.convert(swin)
    with pytest.raises(ValueError, match='not a Focal Transformer'):
        conv.convert({'layers.0.blocks.0.attn.qkv.weight': torch.zeros(3, 3)})
    no_focal = {k: v for k, v in sd.items() if 'to_' not in k and 'pool_layers' not in k}
    with pytest.raises(ValueError, match='no focal tables'):
        conv.convert(no_focal)
    with pytest.raises(ValueError, match='already in the mmvit_plugins layout'):
        conv.convert(dict(sd, **plain))
    assert conv.infer_official_kwargs(sd) == dict(
        embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], use_conv_embed=False,
        num_classes=10)


def test_converted_checkpoint_of_another_size_fails_loudly():
    fx = load_parity_fixture(FIXTURES[0])
    model = build_mmpretrain(conv.classifier_cfg(dict(fx['config'], depths=[1, 1, 1, 1])))
    with pytest.raises(RuntimeError, match='Unexpected key'):
        model.load_state_dict(conv.convert(fx['state_dict']), strict=True)
    model = build_mmpretrain(conv.classifier_cfg(dict(fx['config'], embed_dim=32)))
    with pytest.raises(RuntimeError, match='size mismatch'):
        model.load_state_dict(conv.convert(fx['state_dict']), strict=True)


def test_cli_converts_official_files(tmp_path):
    fx = load_parity_fixture(FIXTURES[0])
    src = tmp_path / 'official.pth'
    torch.save({'model': {'module.' + k: v for k, v in fx['state_dict'].items()},
                'args': {'lr': 1e-3}}, src)
    raw = tmp_path / 'raw.pth'
    torch.save(fx['state_dict'], raw)
    full, bb = tmp_path / 'full.pth', tmp_path / 'backbone.pth'
    run_tool(['model_converters/focal2mmvit.py', src, full])
    run_tool(['model_converters/focal2mmvit.py', raw, bb, '--backbone-only'])
    full_sd = torch.load(full, weights_only=True)['state_dict']
    bb_sd = torch.load(bb, weights_only=True)['state_dict']
    assert 'head.fc.weight' in full_sd and 'backbone.norm3.weight' in full_sd
    assert 'norm3.weight' in bb_sd and not any(k.startswith(('head', 'backbone')) for k in bb_sd)

    # the backbone-only file initialises a backbone through init_cfg, reproducing stage 3
    cfg = conv.classifier_cfg(fx['config'])['backbone']
    cfg.update(out_indices=(3, ), out_norm=False,
               init_cfg=dict(type='Pretrained', checkpoint=str(bb)))
    backbone = build_mmpretrain(cfg)
    backbone.init_weights()
    with torch.no_grad():
        out = backbone.eval()(fx['input'])[0]
    assert max_abs_diff(out, fx['stage3']) <= ATOL

    # a checkpoint of another family fails with a message naming the problem
    other = tmp_path / 'other.pth'
    torch.save({'model': {'patch_embed.proj.weight': torch.zeros(2, 3, 4, 4)}}, other)
    proc = run_tool(['model_converters/focal2mmvit.py', other, tmp_path / 'x.pth'],
                    check=False)
    assert proc.returncode != 0 and 'not a Focal Transformer' in proc.stderr
    assert not (tmp_path / 'x.pth').exists()
