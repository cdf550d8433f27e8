"""The Shunted converter: official arguments and keys to ours, and its checks. Parity with the
official outputs is in test_parity.py."""
import pytest
import torch
from utils import build_mmpretrain, load_parity_fixture, parity_fixture_paths

from mmvit_plugins.converters import shunted as conv

FIXTURES = parity_fixture_paths('shunted')


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
    assert len(plain) == len(sd)
    expected = {
        'patch_embed1.conv.0.weight': 'backbone.patch_embed.conv.0.weight',
        'block1.0.attn.sr1.weight': 'backbone.stages.0.blocks.0.attn.sr1.weight',
        'block4.0.attn.kv.weight': 'backbone.stages.3.blocks.0.attn.kv.weight',
        'patch_embed2.proj.weight': 'backbone.stages.0.downsample.proj.weight',
        'patch_embed4.norm.bias': 'backbone.stages.2.downsample.norm.bias',
        'norm1.weight': 'backbone.norm0.weight',
        'norm4.bias': 'backbone.norm3.bias',
        'head.weight': 'head.fc.weight'}
    for old, new in expected.items():
        assert torch.equal(plain[new], sd[old]), old
    assert not any(k.startswith(('backbone.block', 'backbone.norm4', 'backbone.patch_embed1'))
                   for k in plain)
    wrapped = conv.convert({'model': {'module.' + k: v for k, v in sd.items()}, 'epoch': 3})
    assert list(wrapped) == list(plain)
    with pytest.raises(ValueError, match='not a Shunted Transformer'):
        conv.convert({'layers.0.blocks.0.attn.qkv.weight': torch.zeros(3, 3)})
    with pytest.raises(ValueError, match='already in the mmvit_plugins layout'):
        conv.convert(plain)
    with pytest.raises(ValueError, match="unexpected key 'pos_embed'"):
        conv.convert(dict(sd, pos_embed=torch.zeros(1)))


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


