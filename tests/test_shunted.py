"""Unit tests of the ShuntedTransformer backbone (OpenMMLab style)."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm
from utils import check_norm_state, max_abs_diff

from mmvit_plugins.models.backbones import shunted
from mmvit_plugins.models.backbones.shunted import ShuntedAttention, ShuntedTransformer

SMALL = dict(embed_dims=[64, 32, 32, 64], depths=[1, 1, 2, 1], num_heads=[2, 2, 2, 4],
             mlp_ratios=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1], num_conv=1)


def small(**kwargs):
    kwargs.setdefault('arch', SMALL)
    return ShuntedTransformer(**kwargs)


def _randomise(model):
    """Non-trivial weights so that every parameter influences the outputs."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(1.0 if p.dim() == 1 and 'norm' in name else 0.0,
                      0.2 if p.dim() == 1 else p[0].numel()**-0.5)
    return model


@pytest.mark.parametrize('hw', [(64, 64), (65, 97), (96, 40), (224, 224)])
def test_output_shapes_any_input_size(hw):
    model = small().eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, *hw))
    h, w = (-(-hw[0] // 2)) // 2, (-(-hw[1] // 2)) // 2
    for i, out in enumerate(outs):
        if i:
            h, w = -(-h // 2), -(-w // 2)
        assert out.shape == (2, SMALL['embed_dims'][i], h, w)
        assert torch.isfinite(out).all()


def test_out_indices():
    x = torch.randn(1, 3, 64, 64)
    full = small().eval()
    part = small(out_indices=(1, -1)).eval()
    part.load_state_dict(full.state_dict())
    with torch.no_grad():
        ref, outs = full(x), part(x)
    assert len(outs) == 2
    assert torch.equal(outs[0], ref[1]) and torch.equal(outs[1], ref[3])
    assert len(small(out_indices=2).eval()(x)) == 1
    with pytest.raises(ValueError, match='out_indices'):
        small(out_indices=(4, ))


def test_arch_validation():
    with pytest.raises(ValueError, match="unknown ShuntedTransformer arch 'huge'.*'tiny'"):
        ShuntedTransformer(arch='huge')
    incomplete = {k: v for k, v in SMALL.items() if k != 'num_conv'}
    with pytest.raises(ValueError, match=r"missing keys \['num_conv'\]"):
        ShuntedTransformer(arch=incomplete)
    with pytest.raises(ValueError, match="unknown keys \\['window_size'\\]"):
        ShuntedTransformer(arch=dict(SMALL, window_size=7))
    with pytest.raises(ValueError, match='needs 4 entries'):
        ShuntedTransformer(arch=dict(SMALL, depths=[1, 1, 1]))
    with pytest.raises(ValueError, match='sr_ratio must be 1 or even'):
        ShuntedTransformer(arch=dict(SMALL, sr_ratios=[8, 3, 2, 1]))
    with pytest.raises(ValueError, match='num_heads must be even'):
        ShuntedTransformer(arch=dict(SMALL, num_heads=[1, 2, 2, 4]))
    with pytest.raises(ValueError, match='attn_impl'):
        small(attn_impl='flash')
    with pytest.raises(TypeError):
        small(pretrained=123)
    with pytest.raises(AssertionError):
        small(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='a.pth'))


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


def test_frozen_stages():
    model = small(frozen_stages=2)

    def frozen(prefixes):
        return all(not p.requires_grad for n, p in model.named_parameters()
                   if n.startswith(prefixes))

    def trainable(prefixes):
        return all(p.requires_grad for n, p in model.named_parameters()
                   if n.startswith(prefixes))

    # already in __init__ (DDP registers parameters before train() is called)
    assert frozen(('patch_embed1', 'block1', 'norm1', 'patch_embed2', 'block2', 'norm2'))
    assert trainable(('patch_embed3', 'block3', 'norm3', 'patch_embed4', 'block4', 'norm4'))
    model.train()
    assert frozen(('patch_embed1', 'block2', 'norm2'))
    assert not model.patch_embed1.training and not model.block2.training
    assert model.block3.training
    assert check_norm_state(model.patch_embed1.modules(), False)

    stem_only = small(frozen_stages=0).train()
    assert all(not p.requires_grad for p in stem_only.patch_embed1.parameters())
    assert all(p.requires_grad for p in stem_only.block1.parameters())
    with pytest.raises(ValueError, match='frozen_stages'):
        small(frozen_stages=5)


def test_norm_eval():
    model = small(norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) == 2 and check_norm_state(bns, False)
    assert model.block1.training
    model = small(norm_eval=False).train()
    assert check_norm_state(model.modules(), True)


def test_with_cp_matches_plain_forward_backward():
    x = torch.randn(2, 3, 64, 64)
    plain = _randomise(small(drop_path_rate=0.)).train()
    ckpt = small(drop_path_rate=0., with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    grads = []
    for model in (plain, ckpt):
        outs = model(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert ckpt.block1[0].with_cp and not plain.block1[0].with_cp
    for name, g in grads[0].items():
        assert max_abs_diff(g, grads[1][name]) <= 1e-5, name


def test_drop_path_schedule():
    model = small(drop_path_rate=0.3)
    rates = [blk.drop_path.drop_prob if hasattr(blk.drop_path, 'drop_prob') else 0.
             for i in range(1, 5) for blk in getattr(model, f'block{i}')]
    assert rates == pytest.approx(torch.linspace(0, 0.3, 5).tolist())
    assert isinstance(model.block1[0].drop_path, torch.nn.Identity)  # rate 0
    # active in training, identity in eval
    model.train()
    x = torch.randn(4, 3, 64, 64)
    assert not torch.equal(model(x)[3], model(x)[3])
    model.eval()
    assert torch.equal(model(x)[3], model(x)[3])


@pytest.mark.parametrize('query_chunk', [512, 16])
@pytest.mark.parametrize('sr_ratio,num_heads,hw', [(8, 2, (17, 23)), (4, 4, (9, 13)),
                                                   (2, 2, (7, 6)), (1, 4, (5, 7))])
def test_fast_attention_matches_reference(sr_ratio, num_heads, hw, query_chunk, monkeypatch):
    """Fused SDPA path == explicit attention-matrix path, forward and gradients, including
    maps whose size is not a multiple of the aggregation ratio, and the CPU query-chunked
    fused path (chunk 16: several chunks, the last one padded)."""
    monkeypatch.setattr(shunted, 'CPU_QUERY_CHUNK', query_chunk)
    fast = ShuntedAttention(64, num_heads, sr_ratio, attn_impl='fast')
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


def test_backbone_fast_matches_reference():
    x = torch.randn(1, 3, 96, 72)
    fast = _randomise(small()).eval()
    ref = small(attn_impl='reference').eval()
    ref.load_state_dict(fast.state_dict())
    with torch.no_grad():
        for a, b in zip(fast(x), ref(x)):
            assert max_abs_diff(a, b) <= 1e-4


def test_init_weights_default_and_pretrained_round_trip(tmp_path):
    model = small()
    model.init_weights()
    assert torch.equal(model.norm1.weight, torch.ones(64))
    assert model.block1[0].attn.q.weight.std() < 0.05  # trunc_normal(0.02)
    _randomise(model)
    ckpt = tmp_path / 'backbone.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    loaded = small(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    loaded.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k

    # classifier checkpoint with backbone. prefix
    full = tmp_path / 'classifier.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in model.state_dict().items()}}, full)
    loaded = small(init_cfg=dict(type='Pretrained', checkpoint=str(full), prefix='backbone.'))
    loaded.init_weights()
    assert torch.equal(loaded.block3[1].mlp.fc2.weight, model.block3[1].mlp.fc2.weight)

    # another family: no shared key
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'layers.0.blocks.0.attn.qkv.weight': torch.zeros(1)}}, other)
    with pytest.raises(ValueError, match='shares no parameter name'):
        small(init_cfg=dict(type='Pretrained', checkpoint=str(other))).init_weights()
    # another size of the same family
    with pytest.raises(RuntimeError, match='does not fit'):
        ShuntedTransformer(arch=dict(SMALL, embed_dims=[64, 64, 64, 64]),
                           init_cfg=dict(type='Pretrained', checkpoint=str(ckpt))).init_weights()


def test_get_layer_depth_for_layer_decay():
    model = small()
    num_layers = sum(SMALL['depths']) + 2
    depths = {name: model.get_layer_depth(name, 'backbone.')[0]
              for name, _ in model.named_parameters(prefix='backbone')}
    assert depths['backbone.patch_embed1.conv.0.weight'] == 0
    assert depths['backbone.block1.0.attn.q.weight'] == 1
    assert depths['backbone.block3.1.mlp.fc1.weight'] == 4
    assert depths['backbone.norm4.weight'] == num_layers - 2
    order = [depths[n] for n, _ in model.named_parameters(prefix='backbone')]
    assert max(order) < num_layers and all(d >= 0 for d in order)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (num_layers - 1, num_layers)
