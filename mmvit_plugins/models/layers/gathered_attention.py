"""Windowed attention over gathered keys, without materialising the gathered keys.

Several families attend, per window of queries, to a fixed set of key positions that overlap
between windows (Focal's rolled neighbours and pooled neighbourhoods, halo/neighbourhood
attention). Writing those keys out per window and keeping them for backward costs memory and,
on CPU, most of the time: the copies are large fresh buffers whose page faults dominate.

:func:`gathered_attention` computes::

    out[b, w] = softmax(q[b, w] @ K_w^T + bias + window_bias[w]) @ V_w
    K_w, V_w = kv_table[b, index[w], 0], kv_table[b, index[w], 1]

On CPU (no attention dropout) a custom autograd function processes a few windows at a time:
it gathers their keys into a small reused buffer, runs PyTorch's fused flash kernel forward
(keeping only the output and its log-sum-exp) and, in backward, gathers again and computes
the gradients of ``q``, of the table (scattered with ``index_add_``) and of the shared
``bias`` from one recomputed probability block per chunk; with ``store_probs`` a plain
softmax forward keeps the probabilities instead (faster training, more memory). Elsewhere
(CUDA) it gathers every window once and calls ``scaled_dot_product_attention``, whose kernels
handle the bias and its gradient. ``reference_gathered_attention`` is the plain formula;
tests check all three agree.
"""
import torch

from .attention import multihead_attention

_CPU_FLASH = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)

# floats of one chunk's (windows, nH, L, N) logits block: small enough to stay in cache and in
# the allocator's reused heap (big fresh buffers page-fault), large enough for good GEMMs
CHUNK_LOGITS = 1 << 18  # 1 MB: measured best of 2^16..2^21 on Focal-T's stages (CPU)
# PyTorch's vectorised exp is ~10-30x slower for arguments whose result is below float32's
# normal range (under about -87: -100-masked logits, -inf; measured with AVX-512), and the
# backward recomputation meets one per masked logit. Such probabilities are < 1.2e-38, below
# the resolution of any row (its largest probability is >= 1/N): _exp_flushed takes the fast
# path for them and flushes the result to exactly zero, as -inf masks give.
_EXP_FLOOR = -87.0  # exp(-87) = 1.65e-38, a normal float32
_FLUSH_BELOW = 2e-38


def _exp_flushed(x):
    """In-place ``exp(x)``, with results below 2e-38 set to zero (see ``_EXP_FLOOR``)."""
    x = x.clamp_(min=_EXP_FLOOR).exp_()
    return torch.nn.functional.threshold_(x, _FLUSH_BELOW, 0.0)


def _chunk_windows(num_heads, queries, keys):
    return max(1, CHUNK_LOGITS // (num_heads * queries * keys))


def _head_rows(index, num_heads, rows):
    """Rows of ``index`` (any shape) in the ``(nH * R)``-row view of a head-major table:
    ``(nH, index.numel())``."""
    offsets = torch.arange(num_heads, device=index.device).view(-1, 1) * rows
    return index.reshape(1, -1) + offsets


def _gather(table, head_rows, num_windows, num_keys):
    """``table`` (nH, R, 2, d), ``head_rows`` (nH, n * N) -> k, v ``(nH, n, N, d)``, strided
    views of one gathered block whose matrices GEMMs take as they are (row stride 2d)."""
    nh, _, _, d = table.shape
    # on a 2-D view: index_select of rows of a 4-D tensor is many times slower on CPU
    g = table.reshape(-1, 2 * d).index_select(0, head_rows.reshape(-1))
    g = g.view(nh, num_windows, num_keys, 2, d)
    return g[..., 0, :], g[..., 1, :]


def _chunk_mask(bias, bias_type, window_bias, s, e):
    """(nH, n or 1, L, N): the bias of the chunk's windows plus their window masks."""
    if bias_type is None:
        mask = bias.unsqueeze(1)
    else:
        mask = bias.index_select(1, bias_type[s:e])
    if window_bias is None:
        return mask
    return mask + window_bias[s:e].unsqueeze(0)


class _ChunkedGatheredAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, kv_table, index, bias, bias_type, window_bias, store_probs):
        b, nh, nw, length, d = q.shape
        rows, n = kv_table.shape[2], index.shape[1]
        chunk = _chunk_windows(nh, length, n)
        out, lse = q.new_empty(q.shape), None
        probs = q.new_empty((b, nh, nw, length, n)) if store_probs else None
        for i in range(b):
            for s in range(0, nw, chunk):
                e = min(s + chunk, nw)
                k, v = _gather(kv_table[i], _head_rows(index[s:e], nh, rows), e - s, n)
                mask = _chunk_mask(bias, bias_type, window_bias, s, e)
                if store_probs:  # plain softmax, kept for backward
                    prob = (q[i, :, s:e] @ k.transpose(-2, -1)).add_(mask).softmax(-1)
                    probs[i, :, s:e] = prob
                    out[i, :, s:e] = prob @ v
                    continue
                # the kernel's (batch, heads) are our (heads, windows)
                o, l = _CPU_FLASH(q[i, :, s:e], k, v, 0.0, False, attn_mask=mask, scale=1.0)
                if lse is None:
                    lse = l.new_empty((b, nh, nw, length))
                out[i, :, s:e] = o
                lse[i, :, s:e] = l
        ctx.save_for_backward(q, kv_table, index, bias, bias_type, window_bias, out,
                              probs if store_probs else lse)
        ctx.store_probs = store_probs
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, kv_table, index, bias, bias_type, window_bias, out, saved = ctx.saved_tensors
        b, nh, nw, length, d = q.shape
        rows, n = kv_table.shape[2], index.shape[1]
        chunk = _chunk_windows(nh, length, n)
        need_q, need_table, _, need_bias = ctx.needs_input_grad[:4]
        grad_q = torch.empty_like(q) if need_q else None
        grad_table = torch.empty_like(kv_table) if need_table else None
        grad_bias = (torch.zeros(bias.shape, dtype=torch.promote_types(bias.dtype, torch.float32))
                     if need_bias else None)
        # rowsum(dO * O): the softmax backward's correction term
        delta = (grad_out * out).sum(-1, keepdim=True)
        for i in range(b):
            if need_table:  # contiguous accumulators: index_add_ into strided rows is slow
                grad_k_rows = kv_table.new_zeros(nh * rows, d)
                grad_v_rows = kv_table.new_zeros(nh * rows, d)
            for s in range(0, nw, chunk):
                e = min(s + chunk, nw)
                head_rows = _head_rows(index[s:e], nh, rows)
                k, v = _gather(kv_table[i], head_rows, e - s, n)
                qc, go = q[i, :, s:e], grad_out[i, :, s:e]
                if ctx.store_probs:
                    prob = saved[i, :, s:e]
                else:  # P = exp(q k^T + mask - lse): the forward's probabilities, recomputed
                    prob = (qc @ k.transpose(-2, -1)).add_(
                        _chunk_mask(bias, bias_type, window_bias, s, e))
                    prob = _exp_flushed(prob.sub_(saved[i, :, s:e].unsqueeze(-1).to(prob.dtype)))
                grad_logits = (go @ v.transpose(-2, -1)).sub_(delta[i, :, s:e]).mul_(prob)
                if need_bias and bias_type is None:
                    grad_bias += grad_logits.sum(1)
                elif need_bias:
                    grad_bias.index_add_(1, bias_type[s:e], grad_logits.to(grad_bias.dtype))
                if need_q:
                    grad_q[i, :, s:e] = grad_logits @ k
                if need_table:
                    head_rows = head_rows.reshape(-1)
                    grad_k_rows.index_add_(0, head_rows,
                                           (grad_logits.transpose(-2, -1) @ qc).view(-1, d))
                    grad_v_rows.index_add_(0, head_rows,
                                           (prob.transpose(-2, -1) @ go).view(-1, d))
            if need_table:
                grad_table[i] = torch.stack([grad_k_rows, grad_v_rows], 1).view(nh, rows, 2, d)
        if need_bias:
            grad_bias = grad_bias.to(bias.dtype)
        return grad_q, grad_table, None, grad_bias, None, None, None


def _use_chunked(q, kv_table, bias, dropout_p, training):
    return (_CPU_FLASH is not None and q.device.type == 'cpu'
            and not (training and dropout_p > 0)
            and q.dtype == kv_table.dtype == bias.dtype
            and q.dtype in (torch.float32, torch.float64, torch.bfloat16))


def gathered_attention(q, kv_table, index, bias, window_bias=None, dropout_p=0.0,
                       training=False, bias_type=None, store_probs=False):
    """Windowed attention over keys gathered from a table (see the module docstring).

    Head-major layouts, so that gathered keys feed GEMMs without copies.

    Args:
        q (Tensor): ``(B, nH, nW, L, d)`` queries, already scaled.
        kv_table (Tensor): ``(B, nH, R, 2, d)`` keys (``[..., 0, :]``) and values of R rows.
        index (LongTensor): ``(nW, N)`` table rows of the N keys of every window.
        bias (Tensor): ``(nH, L, N)`` additive bias shared by all windows, or
            ``(nH, T, L, N)`` for T window types (may need grad).
        window_bias (Tensor, optional): ``(nW, L or 1, N)`` constant per-window additive
            mask (padding, shift masks).
        dropout_p (float): attention dropout (only when ``training``).
        bias_type (LongTensor, optional): ``(nW,)`` type of every window, with a 4-D bias.
        store_probs (bool): CPU path, when gradients are needed: keep the probabilities
            ``(B, nH, nW, L, N)`` for backward (a plain softmax forward) instead of recomputing
            them from the log-sum-exp of the fused kernel: faster training, more memory.

    Returns:
        Tensor: ``(B, nH, nW, L, d)``.
    """
    if (bias.dim() == 4) != (bias_type is not None):
        raise ValueError('a (nH, T, L, N) bias needs bias_type and a (nH, L, N) bias none, '
                         f'got bias {tuple(bias.shape)} and bias_type {bias_type is not None}')
    bias = bias.to(q.dtype)
    if window_bias is not None:
        window_bias = window_bias.to(q.dtype)
    if _use_chunked(q, kv_table, bias, dropout_p, training):
        store_probs = store_probs and torch.is_grad_enabled() and any(
            t.requires_grad for t in (q, kv_table, bias))
        return _ChunkedGatheredAttention.apply(q, kv_table, index, bias, bias_type, window_bias,
                                               store_probs)
    b, nh, nw, length, d = q.shape
    rows = kv_table.shape[2]
    k, v = _gather(kv_table.flatten(0, 1), _head_rows(index, b * nh, rows), nw, index.shape[1])
    mask = _chunk_mask(bias, bias_type, window_bias, 0, nw).repeat(b, 1, 1, 1)  # B nH, nW|1, L, N
    out = multihead_attention(q.flatten(0, 1), k, v, 1.0, bias=mask, impl='fast',
                              dropout_p=dropout_p, training=training)
    return out.view(q.shape)


def reference_gathered_attention(q, kv_table, index, bias, window_bias=None, bias_type=None):
    """The plain formula of :func:`gathered_attention` (materialised keys and logits)."""
    keys = kv_table[:, :, index]  # (B, nH, nW, N, 2, d)
    k, v = keys[..., 0, :], keys[..., 1, :]
    logits = q @ k.transpose(-2, -1) + (bias.unsqueeze(1) if bias_type is None
                                        else bias[:, bias_type])
    if window_bias is not None:
        logits = logits + window_bias
    return logits.float().softmax(-1).to(v.dtype) @ v
