"""The Focal converter: official arguments and keys to ours, and its checks. Parity with the
official outputs is in test_parity.py."""
import pytest
import torch
from utils import build_mmpretrain, load_parity_fixture, parity_fixture_paths

from mmvit_plugins.converters import focal as conv

FIXTURES = parity_fixture_paths('focal')


def test_structure_follows_the_official_size_rule():
    """At 224 stage 3 (7x7) has no neighbour table; at 256x320 (8x10) it has one, exactly as
    in the official state dicts of the fixtures."""
    for path in FIXTURES:
        fx = load_parity_fixture(path)
        model = build_mmpretrain(conv.classifier_cfg(fx['config']))
        ours = {k for k in model.state_dict()}
        theirs = set(conv.convert(fx['state_dict']))
        assert ours == theirs
    blk = 'backbone.stages.3.blocks.0.attn.relative_position_bias_table_to_neighbors'
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
    # official layers.{i} are our stages.{i}; inside a stage the names are the official ones
    assert len(plain) == len(sd) - sum(any(m in k for m in conv._BUFFER_MARKERS) for k in sd)
    assert not any(k.startswith('backbone.layers.') for k in plain)
    assert torch.equal(plain['backbone.stages.1.downsample.proj.weight'],
                       sd['layers.1.downsample.proj.weight'])
    assert torch.equal(plain['backbone.stages.0.blocks.0.attn.qkv.weight'],
                       sd['layers.0.blocks.0.attn.qkv.weight'])
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


