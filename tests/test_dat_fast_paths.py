"""The DAT++ deformable attention's fast path (separable bias interpolation, chunked key-major
attention, recomputing backward) against the literal formula, forward and every gradient."""
import pytest
import torch
import torch.nn.functional as F

from mmvit_plugins.models.layers import DeformableAttention2d
from mmvit_plugins.models.layers import separable_bias_attention as sba
from mmvit_plugins.models.layers.deformable_attention import sample_rpe_bias


def formula(q, k, v, table, pos, scale, groups):
    """The official op order: einsum, scale, + grid-sampled bias, softmax, einsum."""
    B, C, H, W = q.shape
    heads = table.shape[0]
    d = C // heads
    qh = q.reshape(B * heads, d, H * W)
    kh = k.reshape(B * heads, d, -1)
    vh = v.reshape(B * heads, d, -1)
    attn = torch.einsum('bcm,bcn->bmn', qh, kh).mul(scale)
    attn = attn + sample_rpe_bias(table, pos, (H, W), groups).reshape(attn.shape)
    out = torch.einsum('bmn,bcn->bcm', F.softmax(attn, 2), vh)
    return out.reshape(B, C, H, W)


def inputs(B, heads, groups, hw, khw, table_hw, spread=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = 4
    C = heads * d
    kw = dict(dtype=torch.float64)
    q = torch.randn(B, C, *hw, generator=g, **kw)
    k = torch.randn(B, C, 1, khw[0] * khw[1], generator=g, **kw)
    v = torch.randn(B, C, 1, khw[0] * khw[1], generator=g, **kw)
    table = torch.randn(heads, *table_hw, generator=g, **kw)
    pos = (torch.rand(B * groups, *khw, 2, generator=g, **kw) * 2 - 1) * spread
    return [t.requires_grad_() for t in (q, k, v, table, pos)]


CASES = [
    # B, heads, groups, query map, key map, table, position spread
    (1, 2, 1, (9, 11), (3, 4), (13, 13), 1.0),  # map larger than the table: stretched
    (2, 4, 2, (7, 7), (4, 4), (13, 13), 1.0),  # map = training size: exact table lookup
    (2, 4, 4, (12, 5), (6, 3), (7, 9), 1.0),
    (1, 2, 2, (10, 8), (5, 4), (9, 7), 1.6),  # positions outside [-1, 1]: zero padding
]


@pytest.mark.parametrize('chunk', ['default', 'one row', 'uneven'])
@pytest.mark.parametrize('case', CASES)
def test_separable_bias_attention_matches_formula(case, chunk, monkeypatch):
    if chunk == 'one row':  # every query row its own chunk (own window of U rows)
        monkeypatch.setattr(sba, 'CHUNK_LOGITS', 1)
        monkeypatch.setattr(sba, 'MIN_CHUNK_QUERIES', 1)
    if chunk == 'uneven':  # chunks of 3 rows, a shorter last one (reuses the chunk buffer)
        monkeypatch.setattr(sba, 'CHUNK_LOGITS', 1)
        monkeypatch.setattr(sba, 'MIN_CHUNK_QUERIES', 3 * case[3][1])
    B, heads, groups, hw, khw, table_hw, spread = case
    args = inputs(B, heads, groups, hw, khw, table_hw, spread)
    scale = 0.5
    grad = torch.randn(B, heads * 4, *hw, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(1))
    results = []
    for fn in (formula, sba.separable_bias_attention):
        out = fn(*args, scale, groups)
        grads = torch.autograd.grad(out, args, grad)
        results.append((out,) + grads)
    for name, a, b in zip(['out', 'q', 'k', 'v', 'table', 'pos'], *results):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-11), (name, (a - b).abs().max())
    assert results[0][-1].abs().sum() > 0  # the positions do receive gradient


@pytest.mark.parametrize('orf', [-1, 2])
def test_module_fast_matches_reference_every_parameter(orf):
    torch.manual_seed(0)
    m = DeformableAttention2d(32, 4, 2, 2, 5, (7, 7), offset_range_factor=orf).double()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    x = torch.randn(2, 32, 19, 23, dtype=torch.float64)
    res = []
    for impl in ('reference', 'fast'):
        m.attn_impl = impl
        m.zero_grad()
        xx = x.clone().requires_grad_()
        y = m(xx)
        (y * y.cos()).sum().backward()
        res.append([('out', y.detach()), ('input', xx.grad)]
                   + [(n, p.grad.clone()) for n, p in m.named_parameters()])
    for (name, a), (_, b) in zip(*res):
        # proj_k.bias has no effect on the output (a constant per query): its gradient is 0
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10), (name, (a - b).abs().max())


def test_fast_path_keeps_no_queries_by_keys_tensor():
    m = DeformableAttention2d(64, 2, 1, 4, 5, (14, 14))
    x = torch.randn(1, 64, 40, 48, requires_grad=True)
    nq, nk = 40 * 48, 10 * 12
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x).sum().backward()
    assert max(sizes) < nq * nk  # the largest saved tensor is a (C, H, W) map
