"""Pure-PyTorch neighbourhood attention vs a direct per-pixel transcription of NATTEN 0.14.6."""
import pytest
import torch
import torch.nn.functional as F

from mmvit_plugins.models.layers import (NeighborhoodAttention2d, neighborhood_attention_2d,
                                         neighborhood_window_index)


def natten_direct(q, k, v, rpb, K):
    """Per-pixel loops over NATTEN 0.14.6's ``get_window_start``/``get_pb_start`` formulas."""
    B, h, H, W, d = q.shape
    ns = K // 2

    def window_start(i, L):
        return max(i - ns, 0) + (i + ns >= L) * (L - i - ns - 1)

    def pb_start(i, L):
        return ns + (i < ns) * (ns - i) + (i + ns >= L) * (L - i - 1 - ns)

    out = torch.zeros_like(q)
    for i in range(H):
        for j in range(W):
            ni, nj = window_start(i, H), window_start(j, W)
            pi, pj = pb_start(i, H), pb_start(j, W)
            keys = k[:, :, ni:ni + K, nj:nj + K].reshape(B, h, K * K, d)
            vals = v[:, :, ni:ni + K, nj:nj + K].reshape(B, h, K * K, d)
            bias = rpb[:, pi:pi + K, pj:pj + K].reshape(h, K * K)
            logits = torch.einsum('bhd,bhnd->bhn', q[:, :, i, j], keys) + bias
            out[:, :, i, j] = torch.einsum('bhn,bhnd->bhd', logits.softmax(-1), vals)
    return out


def test_window_index_shifts_inwards_at_borders():
    key, bias = neighborhood_window_index(9, 7)
    assert key[0].tolist() == list(range(7))
    assert key[3].tolist() == list(range(7))
    assert key[8].tolist() == list(range(2, 9))
    assert key[4].tolist() == list(range(1, 8))
    # bias index = key - query + K - 1: centred window of query 4 -> 3..9
    assert bias[4].tolist() == list(range(3, 10))
    assert bias[0].tolist() == list(range(6, 13))
    assert bias[8].tolist() == list(range(0, 7))
    with pytest.raises(ValueError, match='at least 7'):
        neighborhood_window_index(5, 7)


@pytest.mark.parametrize('hw,K', [((7, 7), 7), ((9, 13), 7), ((12, 8), 5), ((6, 6), 3)])
def test_matches_direct_natten(hw, K):
    B, h, d = 2, 3, 4
    q, k, v = (torch.randn(B, h, *hw, d) for _ in range(3))
    rpb = torch.randn(h, 2 * K - 1, 2 * K - 1)
    want = natten_direct(q, k, v, rpb, K)
    for impl in ('reference', 'fast'):
        got = neighborhood_attention_2d(q, k, v, rpb, K, impl=impl)
        assert (got - want).abs().max() < 1e-5, impl


@pytest.mark.parametrize('tile', [3, 7])
def test_fast_tiles_and_gradients_match_reference(monkeypatch, tile):
    import mmvit_plugins.models.layers.neighborhood_attention as na
    # several tiles per axis, a partial last tile, regions clamped at both borders
    monkeypatch.setattr(na, '_TILE', tile)
    B, h, H, W, d, K = 2, 3, 17, 11, 5, 7
    base = [torch.randn(B, h, H, W, d) for _ in range(3)] + [torch.randn(h, 13, 13)]
    grads = {}
    outs = {}
    for impl in ('reference', 'fast'):
        ts = [t.clone().requires_grad_() for t in base]
        out = neighborhood_attention_2d(*ts, K, impl=impl)
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        outs[impl] = out.detach()
        grads[impl] = [t.grad for t in ts]
    assert (outs['fast'] - outs['reference']).abs().max() < 5e-6
    for gf, gr in zip(grads['fast'], grads['reference']):
        assert (gf - gr).abs().max() < 1e-5


def test_module_pads_small_maps_before_qkv():
    torch.manual_seed(1)
    m = NeighborhoodAttention2d(8, 2, kernel_size=7).eval()
    with torch.no_grad():
        m.qkv.bias.normal_()  # padded keys carry the qkv bias: must matter
    x = torch.randn(1, 8, 4, 9)
    with torch.no_grad():
        out = m(x)
        # direct: zero-pad the input (NHWC) to 7 rows, qkv, NATTEN, crop
        xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 0, 0, 0, 3))
        qkv = m.qkv(xp).reshape(1, 7, 9, 3, 2, 4).permute(3, 0, 4, 1, 2, 5)
        o = natten_direct(qkv[0] * m.scale, qkv[1], qkv[2], m.rpb, 7)
        want = m.proj(o.permute(0, 2, 3, 1, 4).reshape(1, 7, 9, 8)[:, :4]).permute(0, 3, 1, 2)
    assert out.shape == (1, 8, 4, 9)
    assert (out - want).abs().max() < 1e-5


def test_bad_arguments():
    with pytest.raises(ValueError, match='divisible'):
        NeighborhoodAttention2d(10, 3)
    with pytest.raises(ValueError, match='odd'):
        NeighborhoodAttention2d(8, 2, kernel_size=6)
    q = torch.randn(1, 2, 8, 8, 4)
    with pytest.raises(ValueError, match='rpb must have shape'):
        neighborhood_attention_2d(q, q, q, torch.zeros(2, 11, 11), 7)
