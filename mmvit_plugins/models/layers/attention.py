"""Scaled dot-product attention shared by the families.

Every family computes ``softmax(q k^T * scale + bias) v`` somewhere. ``multihead_attention``
offers two numerically equivalent implementations, selected per call:

* ``'fast'``: ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels on CUDA,
  a memory-lean path on CPU) with the additive bias or mask passed as ``attn_mask``;
* ``'reference'``: the plain formula, materialising the attention matrix, with the softmax
  in float32 (as the official implementations compute it in fp32 training). Tests compare
  the two, and the benchmarks use it as the "plain path" baseline.
"""
import torch
import torch.nn.functional as F

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
    if p > 0:
        attn = torch.dropout(attn, p, True)
    return attn @ v
