"""The backbone contract (docs/backbone_contract.md), checked on every family with one suite.

Family test files keep only what is specific to their family."""
import re

import pytest
import torch
from mmcv.cnn.bricks import DropPath
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm
from utils import max_abs_diff

import mmvit_plugins  # noqa: F401  (registers the backbones)

# small variants; ``stem`` / ``stage`` are the parameter-name prefixes of the stem and stage i
FAMILIES = {
    'focal': dict(
        cfg=dict(type='FocalTransformer',
                 arch=dict(embed_dims=24, depths=[1, 2, 1, 1], num_heads=[1, 3, 2, 4])),
        bad_arch=dict(embed_dims=24, depths=[1, 1, 1, 1])),
    'shunted': dict(
        cfg=dict(type='ShuntedTransformer',
                 arch=dict(embed_dims=[32, 32, 32, 64], depths=[1, 1, 2, 1],
                           num_heads=[2, 2, 2, 4], mlp_ratios=[2, 2, 2, 2],
                           sr_ratios=[8, 4, 2, 1], num_conv=1)),
        bad_arch=dict(embed_dims=[32, 32, 32, 64], depths=[1, 1, 2, 1])),
    'dat': dict(
        cfg=dict(type='DAT',
                 arch=dict(stem_channels=16, embed_dims=[16, 32, 64, 128], depths=[2, 2, 2, 2],
                           num_heads=[1, 2, 4, 8], num_groups=[1, 1, 2, 4], mlp_ratio=2)),
        bad_arch=dict(embed_dims=[16, 32, 64, 128])),
    'sasa': dict(
        cfg=dict(type='SASAResNet', depth=26, stage_blocks=(1, 1, 1, 1), stem_channels=16,
                 base_channels=16, attn_cfg=dict(num_heads=4, kernel_size=5)),
        bad_arch=None),
}
TRANSFORMERS = ('focal', 'shunted', 'dat')
ALL = list(FAMILIES)


def build(family, **kwargs):
    cfg = dict(FAMILIES[family]['cfg'])
    cfg.update(kwargs)
    return MODELS.build(cfg)


def stem_prefixes(family):
    return ('patch_embed.', ) if family in TRANSFORMERS else ('conv1.', 'bn1.', 'stem.')


def stage_prefixes(family, i):
    if family in TRANSFORMERS:
        return (f'stages.{i}.', f'norm{i}.')
    return (f'layer{i + 1}.', )


def randomise(model, std=0.1):
    """Non-trivial weights (bias tables included) so that every parameter matters."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * std
            p.copy_(1 + noise if re.search(r'norm|bn|\.ln', name) and p.dim() == 1 and
                    name.endswith('weight') else noise)
    return model


def stage_hw(family, h, w, i):
    if family == 'shunted':  # the official stem: a stride-2 conv (ceil), then a stride-2 conv
        h, w = -(-h // 2) // 2, -(-w // 2) // 2
    else:
        h, w = -(-h // 4), -(-w // 4)
    for _ in range(i):
        h, w = -(-h // 2), -(-w // 2)
    return h, w


@pytest.mark.parametrize('family', ALL)
@pytest.mark.parametrize('hw', [(64, 64), (67, 45), (45, 99)])
def test_output_shapes_at_any_size(family, hw):
    model = build(family).eval()
    assert model.num_stages == 4 and len(model.num_features) == 4
    with torch.no_grad():
        outs = model(torch.randn(2, 3, *hw))
    assert isinstance(outs, tuple) and len(outs) == 4
    for i, out in enumerate(outs):
        assert out.shape == (2, model.num_features[i], *stage_hw(family, *hw, i)), i
        assert torch.isfinite(out).all()


@pytest.mark.parametrize('family', ALL)
def test_out_indices(family):
    full = randomise(build(family)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = full(x)
    for out_indices, stages in [(-1, [3]), ((2, 0), [0, 2]), ([1, -1], [1, 3]), (0, [0])]:
        model = build(family, out_indices=out_indices).eval()
        assert model.out_indices == tuple(stages)
        # output norms exist for the returned stages only in some families
        model.load_state_dict(full.state_dict(), strict=False)
        with torch.no_grad():
            outs = model(x)
        assert len(outs) == len(stages)
        for out, i in zip(outs, stages):
            assert max_abs_diff(out, ref[i]) < 1e-5, (out_indices, i)


@pytest.mark.parametrize('family', ALL)
@pytest.mark.parametrize('out_indices, error', [
    (4, ValueError), (-5, ValueError), ([], ValueError), ((1, 1), ValueError),
    ((0, -4), ValueError), ('0', TypeError), ((0.5, ), TypeError)])
def test_out_indices_errors(family, out_indices, error):
    with pytest.raises(error, match='out_indices'):
        build(family, out_indices=out_indices)


def _frozen_names(model):
    return {n for n, p in model.named_parameters() if not p.requires_grad}


@pytest.mark.parametrize('family', ALL)
@pytest.mark.parametrize('frozen_stages', [-1, 0, 2, 4])
def test_frozen_stages(family, frozen_stages):
    model = build(family, frozen_stages=frozen_stages)
    names = [n for n, _ in model.named_parameters()]
    expected = set()
    if frozen_stages >= 0:
        expected |= {n for n in names if n.startswith(stem_prefixes(family))}
    for i in range(frozen_stages):
        stage = {n for n in names if n.startswith(stage_prefixes(family, i))}
        assert stage, f'no parameter named like stage {i}'
        expected |= stage
    assert frozen_stages < 0 or expected
    # applied in __init__ (DDP needs requires_grad set before wrapping) and kept by train()
    assert _frozen_names(model) == expected
    model.train()
    assert _frozen_names(model) == expected
    frozen_modules = [m for n, m in model.named_modules()
                      if n and any((n + '.').startswith(p) for p in expected_prefixes(
                          family, frozen_stages))]
    assert all(not m.training for m in frozen_modules)
    trainable = [m for n, m in model.named_modules() if n.startswith(stage_prefixes(family, 3))]
    assert frozen_stages == 4 or all(m.training for m in trainable)
    outs = model(torch.randn(1, 3, 64, 64, requires_grad=True))
    sum(o.sum() for o in outs).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(grads[n] is None for n in expected)
    assert frozen_stages == 4 or any(g is not None for g in grads.values())


def expected_prefixes(family, frozen_stages):
    prefixes = list(stem_prefixes(family)) if frozen_stages >= 0 else []
    for i in range(max(frozen_stages, 0)):
        prefixes += stage_prefixes(family, i)
    return prefixes


@pytest.mark.parametrize('family', ALL)
@pytest.mark.parametrize('frozen_stages', [-2, 5])
def test_frozen_stages_out_of_range(family, frozen_stages):
    with pytest.raises(ValueError, match=r'frozen_stages must be in \[-1, 4\]'):
        build(family, frozen_stages=frozen_stages)


@pytest.mark.parametrize('family', ALL)
def test_norm_eval(family):
    model = build(family, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(not m.training for m in bns)
    assert model.training and any(m.training for m in model.modules()
                                  if not isinstance(m, _BatchNorm))
    stats = {n: b.clone() for n, b in model.named_buffers() if 'running' in n}
    model(torch.randn(2, 3, 64, 64))
    for n, b in model.named_buffers():
        if n in stats:
            assert torch.equal(b, stats[n]), n
    if family == 'sasa':  # a ResNet: BatchNorm everywhere; without norm_eval they update
        assert bns
        plain = build(family).train()
        plain.load_state_dict(model.state_dict())
        plain(torch.randn(2, 3, 64, 64))
        assert any(not torch.equal(b, stats[n]) for n, b in plain.named_buffers() if n in stats)


@pytest.mark.parametrize('family', ALL)
def test_with_cp_same_outputs_and_gradients(family, monkeypatch):
    import torch.utils.checkpoint as cp
    calls = []
    original = cp.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(cp, 'checkpoint', counting)
    x = torch.randn(1, 3, 64, 64)
    grads, outs = [], []
    plain = randomise(build(family, drop_path_rate=0.))
    for with_cp in (False, True):
        model = build(family, with_cp=with_cp, drop_path_rate=0.)
        model.load_state_dict(plain.state_dict())
        model.train()
        n_before = len(calls)
        out = model(x)
        assert (len(calls) > n_before) == with_cp
        sum((o * torch.linspace(0, 1, o.numel()).view_as(o)).sum() for o in out).backward()
        outs.append(out)
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for a, b in zip(*outs):
        assert max_abs_diff(a, b) < 1e-5
    for n, g in grads[0].items():
        assert (g is None) == (grads[1][n] is None), n
        if g is not None:
            assert max_abs_diff(g, grads[1][n]) <= 1e-5 * (1 + g.abs().max().item()), n


@pytest.mark.parametrize('family', ALL)
def test_drop_path(family):
    model = build(family, drop_path_rate=0.3)
    rates = [m.drop_prob for m in model.modules() if isinstance(m, DropPath)]
    assert rates and abs(max(rates) - 0.3) < 1e-6  # mmcv's DropPath, linear up to the rate
    assert sorted(rates) == rates
    x = torch.randn(2, 3, 64, 64)
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    b = model(x)
    assert any(max_abs_diff(u, v) > 1e-4 for u, v in zip(a, b))
    no_drop = build(family, drop_path_rate=0.)
    no_drop.load_state_dict(model.state_dict())
    model.eval(), no_drop.eval()
    with torch.no_grad():
        for u, v in zip(model(x), no_drop(x)):
            assert torch.equal(u, v)


@pytest.mark.parametrize('family', ALL)
def test_arch_errors(family):
    if family == 'sasa':
        with pytest.raises(ValueError, match=r'unknown SASAResNet depth 27.*choose one of'):
            build(family, depth=27)
        return
    with pytest.raises(ValueError, match=r"unknown \w+ arch 'nano': choose one of"):
        build(family, arch='nano')
    with pytest.raises(ValueError, match=r'missing keys \[.*depths|missing keys \[.*num_heads'):
        build(family, arch=FAMILIES[family]['bad_arch'])
    with pytest.raises(ValueError, match=r"unknown keys \['window'\]"):
        build(family, arch=dict(FAMILIES[family]['cfg']['arch'], window=7))
    with pytest.raises(TypeError, match='arch must be a str or a dict'):
        build(family, arch=3)
    arch = FAMILIES[family]['cfg']['arch']
    build(family, arch=arch)
    assert FAMILIES[family]['cfg']['arch'] == arch  # the config dict is not modified


@pytest.mark.parametrize('family', ALL)
def test_input_checks(family):
    model = build(family).eval()
    for bad in (torch.randn(3, 64, 64), torch.zeros(1, 3, 64, 64, dtype=torch.uint8)):
        with pytest.raises(ValueError, match=r'expects a float tensor \(B, C, H, W\)'):
            model(bad)
    with pytest.raises(ValueError, match='3 input channels, got 4'):
        model(torch.randn(1, 4, 64, 64))


@pytest.mark.parametrize('family', ALL)
def test_pretrained_round_trip(family, tmp_path):
    src = randomise(build(family)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = src(x)
    backbone_only = str(tmp_path / 'bb.pth')
    torch.save(src.state_dict(), backbone_only)
    detector = str(tmp_path / 'det.pth')
    torch.save({'state_dict': {**{f'backbone.{k}': v for k, v in src.state_dict().items()},
                               'neck.conv.weight': torch.zeros(1)}}, detector)
    for init_cfg in (dict(type='Pretrained', checkpoint=backbone_only),
                     dict(type='Pretrained', checkpoint=detector, prefix='backbone.')):
        dst = build(family, init_cfg=init_cfg)
        dst.init_weights()
        dst.eval()
        with torch.no_grad():
            for a, b in zip(dst(x), ref):
                assert torch.equal(a, b)
    other = build(family, init_cfg=dict(type='Pretrained', checkpoint=backbone_only))
    other.init_weights()
    torch.save({'model': {'head.fc.weight': torch.zeros(2)}}, backbone_only)
    with pytest.raises(ValueError, match='shares no parameter name'):
        other.init_weights()


@pytest.mark.parametrize('family', ALL)
def test_fast_and_reference_paths_agree(family):
    fast = randomise(build(family, attn_impl='fast'))
    ref = build(family, attn_impl='reference')
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(1, 3, 67, 45)
    results = []
    for model in (fast, ref):
        model.eval()
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        results.append((outs, {n: p.grad for n, p in model.named_parameters()}))
    for a, b in zip(results[0][0], results[1][0]):
        assert max_abs_diff(a, b) < 1e-4
    for n, g in results[0][1].items():
        r = results[1][1][n]
        assert (g is None) == (r is None), n
        if g is not None:
            assert max_abs_diff(g, r) <= 1e-4 * (1 + r.abs().max().item()), n


@pytest.mark.parametrize('family', ALL)
def test_vocabulary(family):
    model = build(family)
    keys = list(model.state_dict())
    tops = {k.split('.')[0] for k in keys}
    if family == 'sasa':  # mmdet's ResNet names
        assert tops <= {'conv1', 'bn1', 'stem', 'layer1', 'layer2', 'layer3', 'layer4'}
        assert {'layer1', 'layer2', 'layer3', 'layer4'} <= tops
        return
    assert tops <= {'patch_embed', 'stages', 'norm0', 'norm1', 'norm2', 'norm3'}, tops
    assert {'patch_embed', 'stages', 'norm3'} <= tops
    for i in range(4):
        assert any(k.startswith(f'stages.{i}.blocks.0.') for k in keys), i
        assert any(k.startswith(f'stages.{i}.downsample.') for k in keys) == (i < 3), i
    # Swin's paramwise_cfg keys mean the same thing in every family
    tables = [k for k in keys if re.search(r'table|rpe|pos_bias|position_bias', k)]
    assert all('relative_position_bias_table' in k for k in tables), tables
    if family in ('focal', 'dat'):
        assert tables
    assert isinstance(model.embed_dims, (int, list))
