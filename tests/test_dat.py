"""DAT++-specific tests: input limits, output norms, arch values, parameter counts, the
deformable attention, the position-bias tables and the official-checkpoint converter.
The generic backbone contract is tested in test_backbone_contract.py."""
import re

import pytest
import torch

from mmvit_plugins.converters.dat import classifier_cfg, convert, convert_key, infer_arch
from mmvit_plugins.models.backbones.dat import DAT
from mmvit_plugins.models.layers import DeformableAttention2d

TINY = dict(stem_channels=16, embed_dims=[16, 32, 64, 128], depths=[2, 2, 2, 2],
            num_heads=[1, 2, 4, 8], num_groups=[1, 1, 2, 4], mlp_ratio=2)


def tiny(**kw):
    return DAT(arch=TINY, **kw)


def randomise(model, std=0.2):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return model


def to_official(state_dict, classifier=False):
    """Our backbone keys -> the official layout (inverse of the converter)."""
    out = {}
    for k, v in state_dict.items():
        m = re.match(r'norm(\d)\.(.+)$', k)
        if m:
            name = ('cls_norm.norm.' if classifier else f'norms.{m.group(1)}.norm.') + m.group(2)
        elif k.startswith('patch_embed.'):
            name = 'patch_proj.' + k[len('patch_embed.'):]
        elif '.downsample.' in k:
            name = re.sub(r'stages\.(\d+)\.downsample\.', r'down_projs.\1.', k)
        else:
            m = re.match(r'(stages\.\d+)\.blocks\.(\d+)\.(\w+)\.(.+)$', k)
            stage, d, part, rest = m.group(1), int(m.group(2)), m.group(3), m.group(4)
            if part in ('norm1', 'norm2'):
                name = f'{stage}.layer_norms.{2 * d + int(part[-1]) - 1}.{rest}'
            else:
                if rest == 'relative_position_bias_table':
                    rest = 'rpe_table'
                part = dict(lpu='local_perception_units', attn='attns', mlp='mlps')[part]
                name = f'{stage}.{part}.{d}.{rest}'
        out[name] = v
    return out


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match='larger than 32'):
        tiny()(torch.randn(1, 3, 32, 64))


def test_output_norms_follow_out_indices_and_normalise():
    model = tiny(out_indices=(1, 2)).eval()
    assert hasattr(model, 'norm1') and hasattr(model, 'norm2') and not hasattr(model, 'norm0')
    with torch.no_grad():
        _, out = model(torch.randn(1, 3, 64, 64))
    assert out.mean(1).abs().max() < 1e-4
    assert (out.var(1, unbiased=False) - 1).abs().max() < 1e-2
    model = tiny(out_indices=-1, out_norm=False)
    assert not any(n.startswith('norm') for n, _ in model.named_children())


def test_module_names_follow_swin():
    model = tiny()
    assert model.num_features == TINY['embed_dims'] and model.in_channels == 3
    assert [s.downsample is None for s in model.stages] == [False, False, False, True]
    keys = model.state_dict().keys()
    tables = [k for k in keys if k.endswith('relative_position_bias_table')]
    # the default specs: N, D in stages 0-2, D, D in stage 3; N blocks keep NATTEN's `rpb`
    assert len(tables) == 5 and len([k for k in keys if k.endswith('.attn.rpb')]) == 3
    assert 'stages.0.blocks.1.attn.relative_position_bias_table' in keys
    assert 'stages.0.blocks.0.lpu.weight' in keys and 'stages.2.downsample.0.weight' in keys
    assert not any('rpe_table' in k for k in keys)


def test_arch_value_checks():
    with pytest.raises(ValueError, match='stage_specs has 1 blocks'):
        DAT(arch=dict(TINY, stage_specs=[['N'], ['N', 'D'], ['N', 'D'], ['D', 'D']]))
    with pytest.raises(ValueError, match="spec 'L'"):
        DAT(arch=dict(TINY, stage_specs=[['L', 'D'], ['N', 'D'], ['N', 'D'], ['D', 'D']]))
    with pytest.raises(ValueError, match='divisible by num_groups'):
        DAT(arch=dict(TINY, num_groups=[1, 1, 3, 4]))
    with pytest.raises(ValueError, match='4 entries'):
        DAT(arch=dict(TINY, depths=[2, 2, 2]))


def test_released_arch_params():
    # official README: 24 / 53 / 93 M (classifier); det backbones have 4 output norms
    expect = dict(tiny=23.963, small=53.127, base=93.691)
    for name, want in expect.items():
        cfg = classifier_cfg(f'dat_{name}')
        model = DAT(**{k: v for k, v in cfg['backbone'].items() if k != 'type'})
        n = sum(p.numel() for p in model.parameters())
        head = (cfg['head']['in_channels'] + 1) * 1000
        assert abs((n + head) / 1e6 - want) < 0.002, (name, n + head)


def test_deformable_attention_fast_matches_reference_with_gradients():
    torch.manual_seed(0)
    for orf in (-1, 2):
        m = DeformableAttention2d(32, 4, 2, 2, 5, (14, 14), offset_range_factor=orf)
        randomise(m)
        x = torch.randn(1, 32, 15, 13)
        outs = []
        for impl in ('reference', 'fast'):
            m.attn_impl = impl
            m.zero_grad()
            y = m(x)
            y.square().sum().backward()
            outs.append((y.detach(), m.conv_offset[3].weight.grad.clone(),
                         m.relative_position_bias_table.grad.clone()))
        assert (outs[0][0] - outs[1][0]).abs().max() < 1e-5
        for a, b in zip(outs[0][1:], outs[1][1:]):
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-5)
            assert a.abs().sum() > 0  # offsets and the bias table do receive gradient


def test_bias_tables_resized_for_another_img_size(tmp_path):
    src = randomise(tiny())
    path = tmp_path / 'dat.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    big = tiny(img_size=256, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    big.init_weights()
    table = big.stages[0].blocks[1].attn.relative_position_bias_table
    assert table.shape == (1, 127, 127)
    # the NA tables do not depend on the resolution: copied unchanged
    assert torch.equal(big.stages[0].blocks[0].attn.rpb, src.stages[0].blocks[0].attn.rpb)


def test_converter_maps_official_names_and_checks():
    model = tiny(out_indices=(1, 2, 3))
    sd = model.state_dict()
    # official det/seg layout: norms.i.norm.*, backbone. prefix, neck keys
    det = {'backbone.' + k: v for k, v in to_official(sd).items()}
    det['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    conv = convert({'state_dict': det, 'meta': {}})
    assert set(conv) == {'backbone.' + k for k in sd}
    assert all(torch.equal(conv['backbone.' + k], v) for k, v in sd.items())
    assert infer_arch(conv) is None
    assert convert_key('stages.2.layer_norms.3.norm.bias') == 'stages.2.blocks.1.norm2.norm.bias'
    assert convert_key('stages.1.attns.0.rpb') == 'stages.1.blocks.0.attn.rpb'
    assert convert_key('stages.1.attns.1.rpe_table') == \
        'stages.1.blocks.1.attn.relative_position_bias_table'
    with pytest.raises(ValueError, match='not a DAT'):
        convert({'layers.0.blocks.0.attn.qkv.weight': torch.zeros(1)})
    v1 = dict(det)
    v1['backbone.patch_proj.0.weight'] = torch.zeros(16, 3, 4, 4)
    with pytest.raises(ValueError, match='DAT v1'):
        convert(v1)
    with pytest.raises(ValueError, match='not DAT\\+\\+'):
        classifier_cfg(dict(dim_stem=96, dims=[96, 192, 384, 768], depths=[2, 2, 6, 2],
                            stage_spec=[['L', 'S'], ['L', 'S'], ['L', 'D'] * 3, ['L', 'D']]))
    with pytest.raises(ValueError, match='unknown official'):
        classifier_cfg('dat_huge')


def test_released_arch_is_inferred():
    model = DAT(arch='tiny', out_indices=(3,))
    conv = convert(to_official(model.state_dict(), classifier=True))
    assert infer_arch(conv) == 'tiny'


def test_per_stage_switches_from_official_kwargs():
    official = dict(dim_stem=16, dims=[16, 32, 64, 128], depths=[2, 2, 2, 2], heads=[1, 2, 4, 8],
                    groups=[1, 1, 2, 4], expansion=2, use_conv_patches=True,
                    stage_spec=[['N', 'D'], ['D', 'N'], ['N', 'D'], ['D', 'D']],
                    strides=[8, 4, 2, 1], offset_range_factor=[-1] * 4, ksizes=[9, 7, 5, 3],
                    nat_ksizes=[7] * 4, use_dwc_mlps=[True] * 4,
                    use_pes=[False, True, True, True], use_lpus=[True, False, True, True])
    bcfg = {k: v for k, v in classifier_cfg(official)['backbone'].items() if k != 'type'}
    ref = DAT(**dict(bcfg, attn_impl='reference', out_indices=(0, 1, 2, 3))).eval()
    keys = ref.state_dict()
    assert 'stages.0.blocks.1.attn.relative_position_bias_table' not in keys
    assert 'stages.1.blocks.0.attn.relative_position_bias_table' in keys
    assert 'stages.1.blocks.0.lpu.weight' not in keys
    assert 'stages.0.blocks.0.lpu.weight' in keys
    fast = DAT(**dict(bcfg, out_indices=(0, 1, 2, 3))).eval()
    fast.load_state_dict(randomise(ref).state_dict())
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        for a, b in zip(ref(x), fast(x)):
            assert (a - b).abs().max() < 1e-4
