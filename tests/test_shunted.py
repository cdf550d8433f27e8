"""What is specific to ShuntedTransformer: structure, skipped stages, arch checks, the official
parameter counts and init, the fused vs plain attention, lr decay ids.
The generic backbone behaviour is in test_backbone_contract.py."""
import pytest
import torch
from utils import max_abs_diff

from mmvit_plugins.models.backbones.shunted import (ConvStem, OverlapPatchEmbed,
                                                    ShuntedAttention, ShuntedTransformer)
from mmvit_plugins.models.layers.query_chunked_attention import query_chunked_attention

SMALL = dict(embed_dims=[64, 32, 32, 64], depths=[1, 1, 2, 1], num_heads=[2, 2, 2, 4],
             mlp_ratios=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1], num_conv=1)


def small(**kwargs):
    kwargs.setdefault('arch', SMALL)
    return ShuntedTransformer(**kwargs)


def test_structure():
    model = small()
    assert isinstance(model.patch_embed, ConvStem)
    assert model.num_features == SMALL['embed_dims']
    for i, stage in enumerate(model.stages):
        assert len(stage.blocks) == SMALL['depths'][i]
        assert getattr(model, f'norm{i}').normalized_shape == (SMALL['embed_dims'][i], )
        if i < 3:  # stage i's downsample turns its normalised map into stage i + 1's tokens
            assert isinstance(stage.downsample, OverlapPatchEmbed)
            assert stage.downsample.proj.in_channels == SMALL['embed_dims'][i]
            assert stage.downsample.proj.out_channels == SMALL['embed_dims'][i + 1]
    assert model.stages[3].downsample is None


def test_stages_after_the_last_output_are_not_run():
    model = small(out_indices=1, drop_path_rate=0.)
    outs = model(torch.randn(1, 3, 64, 64))
    assert len(outs) == 1 and outs[0].shape[1] == SMALL['embed_dims'][1]
    outs[0].sum().backward()
    unused = ('stages.1.downsample', 'stages.2', 'stages.3', 'norm2', 'norm3')
    for name, p in model.named_parameters():
        assert (p.grad is None) == name.startswith(unused), name


def test_arch_validation():
    with pytest.raises(ValueError, match='needs 4 entries'):
        ShuntedTransformer(arch=dict(SMALL, depths=[1, 1, 1]))
    with pytest.raises(ValueError, match='sr_ratio must be 1 or even'):
        ShuntedTransformer(arch=dict(SMALL, sr_ratios=[8, 3, 2, 1]))
    with pytest.raises(ValueError, match='num_heads must be even'):
        ShuntedTransformer(arch=dict(SMALL, num_heads=[1, 2, 2, 4]))
    with pytest.raises(ValueError, match='divisible by num_heads'):
        ShuntedTransformer(arch=dict(SMALL, num_heads=[2, 2, 2, 6]))


@pytest.mark.parametrize('arch,num_params,num_keys', [
    # official README: 11.5 / 22.4 / 39.6 M with the 1000-class head (513,000 parameters)
    ('t', 11_553_576 - 513_000, 260 - 2),
    ('s', 22_401_256 - 513_000, 596 - 2),
    ('b', 39_614_376 - 513_000, 1010 - 2)])
def test_official_archs_parameter_counts(arch, num_params, num_keys):
    model = ShuntedTransformer(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == num_params
    assert len(model.state_dict()) == num_keys


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match='too small.*at least 32x32'):
        small()(torch.randn(1, 3, 24, 64))
    small().eval()(torch.randn(1, 3, 32, 32))  # the smallest size that works
    small(out_indices=0).eval()(torch.randn(1, 3, 32, 32))


def test_official_default_init():
    model = small()
    model.init_weights()
    assert torch.equal(model.norm0.weight, torch.ones(64))
    assert model.stages[0].blocks[0].attn.q.weight.std() < 0.05  # trunc_normal(0.02)
    conv = model.stages[0].downsample.proj  # fan-out normal
    expected = (2.0 / (9 * conv.out_channels))**0.5
    assert abs(conv.weight.std().item() / expected - 1) < 0.2


@pytest.mark.parametrize('query_chunk', [512, 16])
@pytest.mark.parametrize('sr_ratio,num_heads,hw', [(8, 2, (17, 23)), (4, 4, (9, 13)),
                                                   (2, 2, (7, 6)), (1, 4, (5, 7))])
def test_fast_attention_matches_reference(sr_ratio, num_heads, hw, query_chunk):
    """Fused SDPA path == explicit attention-matrix path, forward and gradients, including
    maps whose size is not a multiple of the aggregation ratio, and the CPU query-chunked
    fused path (chunk 16: several chunks, the last one padded)."""
    fast = ShuntedAttention(64, num_heads, sr_ratio, attn_impl='fast')
    fast.cpu_query_chunk = query_chunk
    ref = ShuntedAttention(64, num_heads, sr_ratio, attn_impl='reference')
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, hw[0] * hw[1], 64, requires_grad=True)
    outs, grads = [], []
    for m in (fast, ref):
        out = m(x, hw)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append([x.grad.clone()] + [p.grad.clone() for p in m.parameters()])
        x.grad = None
    assert max_abs_diff(*outs) <= 1e-5
    for a, b in zip(*grads):  # gradients reach ~1e2: compare relative to their magnitude
        assert max_abs_diff(a, b) <= 1e-5 * max(1.0, b.abs().max().item())


def test_query_chunked_attention_is_sdpa():
    q, k, v = torch.randn(2, 1, 50, 8), torch.randn(2, 1, 7, 8), torch.randn(2, 1, 7, 4)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.3)
    for chunk in (7, 25, 64):
        assert max_abs_diff(query_chunked_attention(q, k, v, 0.3, chunk=chunk), ref) <= 1e-6


def test_get_layer_depth_for_layer_decay():
    model = small()
    num_layers = sum(SMALL['depths']) + 2
    depths = {name: model.get_layer_depth(name, 'backbone.')[0]
              for name, _ in model.named_parameters(prefix='backbone')}
    assert depths['backbone.patch_embed.conv.0.weight'] == 0
    assert depths['backbone.stages.0.blocks.0.attn.q.weight'] == 1
    assert depths['backbone.norm0.weight'] == 1
    assert depths['backbone.stages.0.downsample.proj.weight'] == 2  # with stage 1's first block
    assert depths['backbone.stages.1.blocks.0.attn.q.weight'] == 2
    assert depths['backbone.stages.2.blocks.1.mlp.fc1.weight'] == 4
    assert depths['backbone.norm3.weight'] == num_layers - 2
    assert all(0 <= d < num_layers - 1 for d in depths.values())
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (num_layers - 1, num_layers)
