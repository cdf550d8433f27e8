"""Scaled dot-product attention shared by the families.

Every family computes ``softmax(q k^T * scale + bias) v`` somewhere. ``multihead_attention``
offers two numerically equivalent implementations, selected per call:

* ``'fast'``: ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels on CUDA,
  a memory-lean path on CPU) with the additive bias or mask passed as ``attn_mask``;
* ``'reference'``: the plain formula, materialising the attention matrix, with the softmax
  in float32 (as the official implementations compute it in fp32 training). Tests compare
  the two, and the benchmarks use it as the "plain path" baseline.
"""
import math

import torch
import torch.nn.functional as F

from .attention_capture import record_attention

ATTENTION_IMPLS = ('fast', 'reference')


def check_attn_impl(impl):
    """Validate an ``attn_impl`` constructor argument."""
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f'attn_impl must be one of {ATTENTION_IMPLS}, got {impl!r}')
    return impl


def multihead_attention(q, k, v, scale, bias=None, impl='fast', dropout_p=0.0, training=False):
    """Attention over the last two dims.

    Args:
        q (Tensor): ``(..., Nq, d)``.
        k (Tensor): ``(..., Nk, d)``.
        v (Tensor): ``(..., Nk, dv)``.
        scale (float): multiplier of ``q k^T``.
        bias (Tensor, optional): additive logits bias broadcastable to ``(..., Nq, Nk)``
            (relative position bias, or a mask with large negative entries).
        impl (str): ``'fast'`` or ``'reference'``.
        dropout_p (float): attention dropout probability (applied only when ``training``).

    Returns:
        Tensor: ``(..., Nq, dv)``.
    """
    p = dropout_p if training else 0.0
    if impl == 'fast':
        if bias is not None:
            bias = bias.to(q.dtype)
            # SDPA wants attn_mask broadcastable with the same rank as q.
            while bias.dim() < q.dim():
                bias = bias.unsqueeze(0)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p, scale=scale)
    if impl != 'reference':
        raise ValueError(f'unknown attention impl {impl!r}; use one of {ATTENTION_IMPLS}')
    attn = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        attn = attn + bias
    attn = attn.float().softmax(dim=-1).to(v.dtype)
    record_attention(attn)  # no-op outside capture_attention
    if p > 0:
        attn = torch.dropout(attn, p, True)
    return attn @ v


#: Logits more than this below their row's maximum get probability exactly 0 (they would get
#: less than 2e-35): ``exp`` of such values ends in subnormals and takes a slow path on CPUs
#: (up to 50x per element), ``exp(-inf)`` does not.
EXP_FLOOR = 80.0


def softmax_nograd_(x, exact_zeros=True):
    """Softmax over the last dim of ``x`` in place, outside autograd (see :func:`softmax_`).

    ``exact_zeros=False`` raises logits far below the maximum to ``-EXP_FLOOR`` instead of
    ``-inf`` (weights below 2e-35 instead of 0; ``exp`` of ``-inf`` is slower than of finite
    values): for entries that a caller masks with a finite value and whose gradient it drops.
    """
    x.sub_(x.amax(-1, keepdim=True))
    if exact_zeros:
        F.threshold_(x, -EXP_FLOOR, -math.inf)
    else:
        x.clamp_(min=-EXP_FLOOR)
    x.exp_()
    return x.div_(x.sum(-1, keepdim=True))


class _SoftmaxInplace(torch.autograd.Function):
    """Softmax over the last dim, overwriting its input (an intermediate the caller owns).

    The element-wise passes run in place on the logits, so no second logits-sized buffer is
    allocated (on CPU, a fresh large buffer costs page faults), and it avoids the CPU
    ``softmax`` kernel, several times slower than these passes. Backward:
    ``p * (g - sum(g * p))``.
    """

    @staticmethod
    def forward(ctx, x):
        softmax_nograd_(x)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        p, = ctx.saved_tensors
        gp = grad * p
        return gp.addcmul_(p, gp.sum(-1, keepdim=True), value=-1)


def softmax_(x):
    """In-place softmax over the last dim of ``x`` (differentiable; returns ``x``).

    ``x`` must be an intermediate result that nothing else reads afterwards (e.g. freshly
    computed logits); rows need at least one finite entry.
    """
    return _SoftmaxInplace.apply(x)
