"""SASA local attention layer and attention stem against direct per-pixel references.

There is no official SASA code: the exactness test is a literal per-pixel implementation of the
paper's Eq. 3 written here independently of the layer (explicit window, explicit concatenated
relative embedding), compared with every implementation of the layer, values and gradients.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

from mmvit_plugins.models.backbones.sasa import SASAStem
from mmvit_plugins.models.layers import LocalSelfAttention2d, SASAConv2d
from mmvit_plugins.models.layers.local_attention import sinusoid_table

IMPLS = ('fast', 'reference', 'unfold')


def _layout(m, row_vec, col_vec):
    """The concatenated embedding ``r`` (C,) from a row half and a column half, as the paper
    concatenates them, then cut into heads: per-head split or literal split."""
    c, n, d = m.out_channels, m.num_heads, m.head_dims
    if m.rel_split == 'literal':
        return torch.cat([row_vec, col_vec])
    parts = []
    for h in range(n):
        parts += [row_vec[h * d // 2:(h + 1) * d // 2], col_vec[h * d // 2:(h + 1) * d // 2]]
    out = torch.cat(parts)
    assert out.numel() == c
    return out


def direct_sasa(m, x):
    """Eq. 3 pixel by pixel: each query's own k x k window, zero (or masked) outside the map."""
    b, _, h, w = x.shape
    p, n, d = m.kernel_size // 2, m.num_heads, m.head_dims
    wq = m.q_proj.weight[:, :, 0, 0]
    wv = m.v_proj.weight[:, :, 0, 0]
    wk = m.k_proj.weight[:, :, 0, 0] if m.k_proj is not None else None
    half = m.out_channels // 2
    if m.pos_enc == 'absolute':
        sin_row = sinusoid_table(h, half, dtype=x.dtype)
        sin_col = sinusoid_table(w, half, dtype=x.dtype)
    out = x.new_zeros(b, m.out_channels, h, w)
    for bi, i, j in itertools.product(range(b), range(h), range(w)):
        q = wq @ x[bi, :, i, j]
        logits, values = [], []
        for a, c in itertools.product(range(i - p, i + p + 1), range(j - p, j + p + 1)):
            inside = 0 <= a < h and 0 <= c < w
            if not inside and m.border == 'mask':
                continue
            xv = x[bi, :, a, c] if inside else x.new_zeros(x.shape[1])
            k = wk @ xv if wk is not None else None
            if k is not None and m.pos_enc == 'absolute' and inside:
                k = k + _layout(m, sin_row[a], sin_col[c])
            r = (_layout(m, m.rel_row[a - i + p], m.rel_col[c - j + p])
                 if m.pos_enc == 'relative' else None)
            logit = x.new_zeros(n)
            for hd in range(n):
                sl = slice(hd * d, (hd + 1) * d)
                if k is not None:
                    logit[hd] = logit[hd] + m.qk_scale * (q[sl] * k[sl]).sum()
                if r is not None:
                    logit[hd] = logit[hd] + (q[sl] * r[sl]).sum()
            logits.append(logit)
            values.append(wv @ xv)
        attn = torch.stack(logits).softmax(0)  # (window, N)
        vals = torch.stack(values).view(len(values), n, d)
        out[bi, :, i, j] = (attn[:, :, None] * vals).sum(0).flatten()
    if m.stride == 2:
        out = F.avg_pool2d(out, 2, 2, ceil_mode=True)
    return out


VARIANTS = [
    # pos_enc, logits, rel_split, border, stride, qk_scale
    ('relative', 'qk_qr', 'per_head', 'zero', 1, True),
    ('relative', 'qk_qr', 'literal', 'zero', 2, True),
    ('relative', 'qk_qr', 'per_head', 'mask', 2, False),
    ('relative', 'qr', 'literal', 'mask', 1, True),
    ('absolute', 'qk_qr', 'per_head', 'zero', 1, 0.3),
    ('none', 'qk_qr', 'per_head', 'mask', 1, True),
]


@pytest.mark.parametrize('variant', VARIANTS, ids=lambda v: '-'.join(map(str, v)))
def test_layer_matches_direct_reference_values_and_grads(variant):
    pos_enc, logits, split, border, stride, scale = variant
    m = LocalSelfAttention2d(6, 8, kernel_size=5, num_heads=2, stride=stride, pos_enc=pos_enc,
                             logits=logits, rel_split=split, border=border, qk_scale=scale,
                             block_size=3).double()
    with torch.no_grad():  # non-trivial embeddings so that q.r matters
        for prm in m.parameters():
            prm.normal_()
    x = torch.randn(2, 6, 5, 7, dtype=torch.double, requires_grad=True)
    ref = direct_sasa(m, x)
    gy = torch.randn_like(ref)
    ref_grads = torch.autograd.grad(ref, [x] + list(m.parameters()), gy)
    for impl in IMPLS:
        m.impl = impl
        y = m(x)
        assert y.shape == ref.shape == (2, 8, -(-5 // stride), -(-7 // stride))
        assert (y - ref).abs().max() < 1e-10, impl
        grads = torch.autograd.grad(y, [x] + list(m.parameters()), gy)
        for g, rg in zip(grads, ref_grads):
            assert (g - rg).abs().max() < 1e-9, impl


@pytest.mark.parametrize('hw,block', [((13, 19), 8), ((8, 16), 4), ((1, 11), 8)])
def test_fast_path_agrees_float32(hw, block):
    """Sizes not divisible by the block, a map smaller than the window, fp32."""
    m = LocalSelfAttention2d(16, 32, kernel_size=7, num_heads=4, block_size=block)
    x = torch.randn(2, 16, *hw, requires_grad=True)
    outs, grads = {}, {}
    for impl in IMPLS:
        m.impl = impl
        outs[impl] = m(x)
        grads[impl] = torch.autograd.grad(outs[impl].square().sum(), x)[0]
    for impl in ('fast', 'unfold'):
        assert (outs[impl] - outs['reference']).abs().max() < 1e-5
        assert (grads[impl] - grads['reference']).abs().max() < 1e-4


def test_mask_border_padding_queries_give_finite_grads():
    # a 1-row map in 8x8 blocks: padding queries see no valid key; they must not produce NaNs
    m = LocalSelfAttention2d(4, 8, kernel_size=3, num_heads=2, border='mask', block_size=8)
    x = torch.randn(1, 4, 1, 5, requires_grad=True)
    m(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.parametrize('impl', IMPLS)
def test_locality(impl):
    """A change outside a pixel's window leaves its output unchanged; inside, it changes it."""
    m = LocalSelfAttention2d(4, 8, kernel_size=5, num_heads=2, impl=impl, block_size=4)
    x = torch.randn(1, 4, 12, 12)
    y = m(x)
    x2 = x.clone()
    x2[:, :, 9, 4] += 5.0  # row offset 3 > k//2 = 2 from row 6
    y2 = m(x2)
    changed = (y2 - y).abs().amax(1)[0] > 1e-6
    rows, cols = torch.meshgrid(torch.arange(12), torch.arange(12), indexing='ij')
    inside = ((rows - 9).abs() <= 2) & ((cols - 4).abs() <= 2)
    assert torch.equal(changed, inside)


@pytest.mark.parametrize('impl', IMPLS)
def test_translation_equivariance_away_from_borders(impl):
    m = LocalSelfAttention2d(4, 8, kernel_size=5, num_heads=2, impl=impl, block_size=8)
    x = torch.randn(1, 4, 20, 21)
    dy, dx = 3, 2
    y = m(x)
    y_shift = m(torch.roll(x, (dy, dx), (2, 3)))
    p = 2
    # pixels whose windows are inside the map in both inputs
    inner = y[..., p:20 - p - dy, p:21 - p - dx]
    inner_shift = y_shift[..., p + dy:20 - p, p + dx:21 - p]
    assert (inner - inner_shift).abs().max() < 1e-5
    assert (y - torch.roll(y_shift, (-dy, -dx), (2, 3))).abs().max() > 1e-3  # borders differ


def test_stride2_is_pooled_stride1_and_params_independent_of_k():
    m1 = LocalSelfAttention2d(8, 16, num_heads=4)
    m2 = LocalSelfAttention2d(8, 16, num_heads=4, stride=2)
    m2.load_state_dict(m1.state_dict())
    x = torch.randn(1, 8, 9, 10)
    assert torch.allclose(m2(x), F.avg_pool2d(m1(x), 2, 2, ceil_mode=True), atol=1e-6)
    assert m2(x).shape[-2:] == (5, 5)
    n7 = sum(p.numel() for p in m1.parameters())
    n3 = sum(p.numel() for p in LocalSelfAttention2d(8, 16, 3, 4).parameters())
    assert n7 - n3 == (7 - 3) * 16  # only the relative tables (k x d_out) grow with k
    assert n7 == 3 * 8 * 16 + 7 * 16
    qr_only = LocalSelfAttention2d(8, 16, num_heads=4, logits='qr')
    assert qr_only.k_proj is None and 'k_proj.weight' not in qr_only.state_dict()


@pytest.mark.parametrize('kwargs,match', [
    (dict(kernel_size=4), 'odd'),
    (dict(num_heads=3), 'divisible'),
    (dict(stride=3), 'stride'),
    (dict(pos_enc='sine'), 'pos_enc'),
    (dict(logits='qk'), 'logits'),
    (dict(logits='qr', pos_enc='none'), "pos_enc='relative'"),
    (dict(border='reflect'), 'border'),
    (dict(impl='natten'), 'impl'),
    (dict(num_heads=16), 'even head width'),
])
def test_layer_bad_arguments(kwargs, match):
    args = dict(in_channels=8, out_channels=16, num_heads=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LocalSelfAttention2d(**args)


def test_sasaconv2d_replaces_a_3x3_conv_through_build_conv_layer():
    from mmcv.cnn import build_conv_layer
    import mmvit_plugins  # noqa: F401
    layer = build_conv_layer(dict(type='SASAConv2d', spatial_extent=5, num_heads=2), 8, 8,
                             kernel_size=3, stride=2, padding=1, dilation=1, bias=False)
    assert isinstance(layer, SASAConv2d) and layer.kernel_size == 5
    assert layer(torch.randn(1, 8, 10, 10)).shape == (1, 8, 5, 5)
    with pytest.raises(ValueError, match='groups'):
        SASAConv2d(8, 8, 3, groups=2)


# ------------------------------------------------------------------------ attention stem
def direct_stem_attention(stem, x):
    """The stem's attention output before BN: per 4x4 block of the image, q.k softmax over
    the block's pixels, values mixed from M value matrices by p(a, b, m)."""
    b, _, h, w = x.shape
    s, n, c = stem.block, stem.num_heads, stem.out_channels
    d = c // n
    wq = stem.q_proj.weight[:, :, 0, 0]
    wk = stem.k_proj.weight[:, :, 0, 0]
    wv = stem.v_proj.weight[:, :, 0, 0].view(stem.num_mixtures, c, -1)
    out = x.new_zeros(b, c, h, w)
    for bi, i, j in itertools.product(range(b), range(h), range(w)):
        bi0, bj0 = i // s * s, j // s * s
        keys = [(a, e) for a in range(bi0, min(bi0 + s, h)) for e in range(bj0, min(bj0 + s, w))]
        q = wq @ x[bi, :, i, j]
        ks, vs = [], []
        for a, e in keys:
            logit_m = (stem.emb_row[a % s] + stem.emb_col[e % s]) @ stem.emb_mix.t()
            pm = logit_m.softmax(0)
            wv_mix = (pm[:, None, None] * wv).sum(0)
            ks.append(wk @ x[bi, :, a, e])
            vs.append(wv_mix @ x[bi, :, a, e])
        ks, vs = torch.stack(ks).view(-1, n, d), torch.stack(vs).view(-1, n, d)
        attn = ((q.view(n, d)[None] * ks).sum(-1) * stem.scale).softmax(0)
        out[bi, :, i, j] = (attn[:, :, None] * vs).sum(0).flatten()
    return out


@pytest.mark.parametrize('hw', [(8, 8), (6, 7)])
def test_attention_stem_matches_direct_reference(hw):
    stem = SASAStem(3, 8, num_heads=2, num_mixtures=3).double().eval()
    x = torch.randn(2, 3, *hw, dtype=torch.double)
    ref = direct_stem_attention(stem, x)
    ref = F.max_pool2d(stem.relu(stem.norm1(ref)), 4, 4, ceil_mode=True)
    for impl in ('fast', 'reference'):
        stem.attn_impl = impl
        y = stem(x)
        assert y.shape == (2, 8, -(-hw[0] // 4), -(-hw[1] // 4))
        # the shared attention computes its softmax in float32
        assert (y - ref).abs().max() < 1e-6


def test_attention_stem_mixture_is_spatially_aware():
    stem = SASAStem(3, 8, num_heads=2, num_mixtures=4)
    p = stem.mixture_weights()
    assert p.shape == (4, 4, 4)
    assert torch.allclose(p.sum(-1), torch.ones(4, 4))
    assert (p[0, 0] - p[3, 2]).abs().max() > 1e-4  # different positions mix differently


def test_sasaconv2d_in_mmdet_resnet_dcn_hook():
    """The README's recipe: attention in mmdet's own ResNet through the ``dcn`` hook."""
    import mmvit_plugins  # noqa: F401
    from mmdet.models.backbones import ResNet
    model = ResNet(50, dcn=dict(type='SASAConv2d', spatial_extent=7, num_heads=8),
                   stage_with_dcn=(False, True, True, True))
    assert isinstance(model.layer1[0].conv2, torch.nn.Conv2d)
    assert isinstance(model.layer2[0].conv2, SASAConv2d)
    assert model.layer2[0].conv2.stride == 2 and model.layer2[0].conv2.kernel_size == 7
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(256, 16, 16), (512, 8, 8), (1024, 4, 4),
                                                  (2048, 2, 2)]
