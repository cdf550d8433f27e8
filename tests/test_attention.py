import math

import pytest
import torch

from mmvit_plugins.models.layers import multihead_attention
from mmvit_plugins.models.layers.attention import check_attn_impl


@pytest.mark.parametrize('with_bias', [False, True])
def test_fast_path_matches_reference_values_and_gradients(with_bias):
    torch.manual_seed(0)
    q = torch.randn(2, 3, 17, 8, requires_grad=True)
    k = torch.randn(2, 3, 29, 8, requires_grad=True)
    v = torch.randn(2, 3, 29, 5, requires_grad=True)
    bias = torch.randn(3, 17, 29) if with_bias else None
    if with_bias:  # a padding mask as the families use it
        bias[:, :, -4:] = -100.0
    outs, grads = [], []
    for impl in ('fast', 'reference'):
        out = multihead_attention(q, k, v, scale=8 ** -0.5, bias=bias, impl=impl)
        outs.append(out)
        grads.append(torch.autograd.grad(out.square().sum(), (q, k, v)))
    assert outs[0].shape == (2, 3, 17, 5)
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    for g_fast, g_ref in zip(*grads):
        assert torch.allclose(g_fast, g_ref, atol=1e-4)


def test_reference_is_the_textbook_formula():
    q, k, v = torch.randn(1, 4, 6), torch.randn(1, 5, 6), torch.randn(1, 5, 2)
    expected = torch.softmax(q @ k.transpose(-2, -1) * 0.5, dim=-1) @ v
    assert torch.allclose(multihead_attention(q, k, v, 0.5, impl='reference'), expected,
                          atol=1e-6)


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match='attn_impl'):
        check_attn_impl('flash')
    with pytest.raises(ValueError, match='unknown attention impl'):
        multihead_attention(*[torch.randn(1, 2, 4)] * 3, scale=1.0, impl='flash')


def test_softmax_inplace_matches_softmax_values_and_grads():
    """The in-place softmax equals torch.softmax (values and input gradients), overwrites its
    input, and keeps rows finite when entries lie far below the row maximum (the floor)."""
    from mmvit_plugins.models.layers.attention import EXP_FLOOR, softmax_
    torch.manual_seed(0)
    x = torch.randn(4, 7, 33, dtype=torch.float64) * 5
    x[..., :5] = -1e30  # far below the maximum: weights are negligible, not NaN
    x.requires_grad_()
    w = torch.randn(4, 7, 33, dtype=torch.float64)
    logits = x * 1.0
    out = softmax_(logits)
    assert out.data_ptr() == logits.data_ptr()
    (out * w).sum().backward()
    grad = x.grad.clone()
    x.grad = None
    ref = x.softmax(-1)
    (ref * w).sum().backward()
    torch.testing.assert_close(out, ref, atol=33 * math.exp(-EXP_FLOOR), rtol=1e-12)
    torch.testing.assert_close(grad, x.grad)
    assert torch.isfinite(out).all() and out.sum(-1).sub(1).abs().max() < 1e-12
