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

A chunk may leave out keys that are padding for all of its windows (Focal's pooled padding:
a zero key and value behind a -100 mask): :func:`plan_chunks` groups windows so that they
share most of their padding and returns, per chunk, the kept key positions; windows keep
their masks on the kept keys, so every computed logit is the formula's, and a left-out
key's weight, below ``exp(-100)`` of the row's largest, is under float32 resolution.
"""
from typing import NamedTuple, Optional

import torch
from torch.utils._pytree import tree_map

from .attention import multihead_attention, softmax_nograd_
from .custom_ops import FunctionCtx, autocast_backward, float32_forward, register_float32_autocast

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


class WindowChunk(NamedTuple):
    """Windows ``[start, end)`` of one chunk of the CPU path, attending to their keys at
    positions ``cols`` (None: all N) through table rows ``index`` ``(n, K)``, with the window
    masks ``window_bias`` ``(n, L or 1, K)`` (None: no window mask on these keys)."""
    start: int
    end: int
    cols: Optional[torch.Tensor]
    index: torch.Tensor
    window_bias: Optional[torch.Tensor]


def plan_chunks(index, num_heads, queries, window_bias=None, skippable=None, row_length=None):
    """Group windows into chunks for the CPU path of :func:`gathered_attention`.

    Args:
        index (LongTensor): ``(nW, N)``, as for :func:`gathered_attention`.
        num_heads (int), queries (int): nH and L, which size the chunks (``CHUNK_LOGITS``).
        window_bias (Tensor, optional): ``(nW, L or 1, N)`` window masks.
        skippable (BoolTensor, optional): ``(nW, N)``, True for keys that may be left out of
            their window: padding whose key and value are zero behind a window mask of at most
            -100 for every query (its weight, below ``exp(-100 + bias - row max)``, is far
            under float32 resolution of the row). A chunk computes only the keys that some
            of its windows cannot skip; the others keep their masks on them.
        row_length (int, optional): windows per row of the window grid; chunks stay within
            one row, where Focal's clipped pooled rows are shared.

    Returns:
        list[WindowChunk]
    """
    nw, n = index.shape
    if skippable is None:
        step = _chunk_windows(num_heads, queries, n)
        return [WindowChunk(s, min(s + step, nw), None, index[s:s + step],
                            None if window_bias is None else window_bias[s:s + step])
                for s in range(0, nw, step)]
    if tuple(skippable.shape) != (nw, n):
        raise ValueError(f'skippable must be (nW, N) = {(nw, n)}, got {tuple(skippable.shape)}')
    live = ~skippable.detach().cpu().numpy().astype(bool)
    if not live.any(1).all():
        raise ValueError('every window needs at least one key that is not skippable')
    row_length = row_length or nw
    chunks, col_sets, s = [], {}, 0
    while s < nw:
        union, e = live[s].copy(), s + 1
        row_end = min(nw, (s // row_length + 1) * row_length)
        while e < row_end:
            grown = union | live[e]
            if (e + 1 - s) * num_heads * queries * int(grown.sum()) > CHUNK_LOGITS:
                break
            union, e = grown, e + 1
        if union.all():
            cols, rows = None, index[s:e]
            wb = None if window_bias is None else window_bias[s:e]
        else:
            key = union.tobytes()
            if key not in col_sets:
                col_sets[key] = torch.from_numpy(union.nonzero()[0]).to(index.device)
            cols = col_sets[key]
            rows = index[s:e].index_select(1, cols)
            wb = None if window_bias is None else window_bias[s:e].index_select(-1, cols)
        if wb is not None and not bool(wb.any()):
            wb = None
        chunks.append(WindowChunk(s, e, cols, rows, wb))
        s = e
    return chunks


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


class _ChunkBias:
    """The shared bias of each chunk's kept keys (selected once per set of kept keys), and
    the accumulation of its gradient."""

    def __init__(self, bias, bias_type):
        self.bias, self.bias_type = bias, bias_type
        self._by_key = None  # (N, ..., L): rows of the kept keys are selected as one block
        self._selected, self._grads = {}, {}

    def mask(self, chunk):
        """(nH, n or 1, L, K): the chunk's bias plus its window masks."""
        if self.bias_type is not None:
            mask = self.bias.index_select(1, self.bias_type[chunk.start:chunk.end])
        elif chunk.cols is None:
            mask = self.bias.unsqueeze(1)
        else:
            key = id(chunk.cols)
            mask = self._selected.get(key)
            if mask is None:
                if self._by_key is None:
                    self._by_key = self.bias.permute(2, 0, 1).contiguous()
                mask = self._by_key.index_select(0, chunk.cols).permute(1, 2, 0)
                self._selected[key] = mask = mask.contiguous().unsqueeze(1)
        if chunk.window_bias is None:
            return mask
        return mask + chunk.window_bias.to(mask.dtype).unsqueeze(0)

    def add_grad(self, grad, chunk, grad_logits):
        """Accumulate the chunk's ``grad_logits`` ``(nH, n, L, K)`` into ``grad``."""
        if self.bias_type is not None:
            grad.index_add_(1, self.bias_type[chunk.start:chunk.end], grad_logits.to(grad.dtype))
        elif chunk.cols is None:
            grad += grad_logits.sum(1)
        else:  # per set of kept keys, scattered once in finish_grad
            key = id(chunk.cols)
            if key in self._grads:
                self._grads[key][1].add_(grad_logits.sum(1))
            else:
                self._grads[key] = (chunk.cols, grad_logits.sum(1, dtype=grad.dtype))

    def finish_grad(self, grad):
        for cols, g in self._grads.values():
            grad.index_add_(-1, cols, g)
        self._grads = {}
        return grad


class _Chunks:
    """The chunk list, passed to the Function in a box: ``custom_fwd`` rebuilds iterable
    arguments to cast them, which named tuples do not survive."""

    def __init__(self, chunks):
        self.chunks = chunks


class _ChunkedGatheredAttention(torch.autograd.Function):

    @staticmethod
    @float32_forward
    def forward(ctx, q, kv_table, index, bias, bias_type, window_bias, store_probs, chunks):
        chunks = chunks.chunks
        b, nh, nw, length, d = q.shape
        rows = kv_table.shape[2]
        out, lse = q.new_empty(q.shape), None
        probs = []
        chunk_bias = _ChunkBias(bias, bias_type)
        for i in range(b):
            for c in chunks:
                s, e = c.start, c.end
                k, v = _gather(kv_table[i], _head_rows(c.index, nh, rows), e - s, c.index.shape[1])
                mask = chunk_bias.mask(c)
                if store_probs:  # plain softmax, kept for backward
                    prob = softmax_nograd_((q[i, :, s:e] @ k.transpose(-2, -1)).add_(mask))
                    probs.append(prob)
                    out[i, :, s:e] = prob @ v
                    continue
                # the kernel's (batch, heads) are our (heads, windows)
                o, l = _CPU_FLASH(q[i, :, s:e], k, v, 0.0, False, attn_mask=mask, scale=1.0)
                if lse is None:
                    lse = l.new_empty((b, nh, nw, length))
                out[i, :, s:e] = o
                lse[i, :, s:e] = l
        ctx.save_for_backward(q, kv_table, bias, bias_type, out, lse)
        ctx.chunks, ctx.probs = chunks, probs
        return out

    @staticmethod
    @autocast_backward
    def backward(ctx, grad_out):
        q, kv_table, bias, bias_type, out, lse = ctx.saved_tensors
        chunks, probs = ctx.chunks, ctx.probs
        b, nh, nw, length, d = q.shape
        rows = kv_table.shape[2]
        need_q, need_table, _, need_bias = ctx.needs_input_grad[:4]
        grad_q = torch.empty_like(q) if need_q else None
        grad_table = torch.empty_like(kv_table) if need_table else None
        grad_bias = (torch.zeros(bias.shape, dtype=torch.promote_types(bias.dtype, torch.float32))
                     if need_bias else None)
        chunk_bias = _ChunkBias(bias, bias_type)
        # rowsum(dO * O): the softmax backward's correction term
        delta = (grad_out * out).sum(-1, keepdim=True)
        for i in range(b):
            if need_table:  # contiguous accumulators: index_add_ into strided rows is slow
                grad_k_rows = kv_table.new_zeros(nh * rows, d)
                grad_v_rows = kv_table.new_zeros(nh * rows, d)
            for j, c in enumerate(chunks):
                s, e = c.start, c.end
                head_rows = _head_rows(c.index, nh, rows)
                k, v = _gather(kv_table[i], head_rows, e - s, c.index.shape[1])
                qc, go = q[i, :, s:e], grad_out[i, :, s:e]
                if probs:
                    prob = probs[i * len(chunks) + j]
                else:  # P = exp(q k^T + mask - lse): the forward's probabilities, recomputed
                    prob = (qc @ k.transpose(-2, -1)).add_(chunk_bias.mask(c))
                    prob = _exp_flushed(prob.sub_(lse[i, :, s:e].unsqueeze(-1).to(prob.dtype)))
                grad_logits = (go @ v.transpose(-2, -1)).sub_(delta[i, :, s:e]).mul_(prob)
                if need_bias:
                    chunk_bias.add_grad(grad_bias, c, grad_logits)
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
        ctx.probs = None
        if need_bias:
            grad_bias = chunk_bias.finish_grad(grad_bias).to(bias.dtype)
        return grad_q, grad_table, None, grad_bias, None, None, None, None


def _use_chunked(q, kv_table, bias, dropout_p, training):
    # under autocast the function computes in float32 whatever its inputs (float32_forward)
    return (_CPU_FLASH is not None and q.device.type == 'cpu'
            and not (training and dropout_p > 0)
            and (torch.is_autocast_enabled('cpu') or q.dtype == kv_table.dtype == bias.dtype
                 and q.dtype in (torch.float32, torch.float64, torch.bfloat16)))


def gathered_attention(q, kv_table, index, bias, window_bias=None, dropout_p=0.0,
                       training=False, bias_type=None, store_probs=False, chunks=None):
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
        chunks (list[WindowChunk], optional): CPU path: the windows' grouping from
            :func:`plan_chunks` (which may leave skippable padding keys out); by default
            chunks of consecutive windows with every key. The other path ignores it.

    Returns:
        Tensor: ``(B, nH, nW, L, d)``.
    """
    if (bias.dim() == 4) != (bias_type is not None):
        raise ValueError('a (nH, T, L, N) bias needs bias_type and a (nH, L, N) bias none, '
                         f'got bias {tuple(bias.shape)} and bias_type {bias_type is not None}')
    if not torch.is_autocast_enabled(q.device.type):
        bias = bias.to(q.dtype)
        if window_bias is not None:
            window_bias = window_bias.to(q.dtype)
    b, nh, nw, length, d = q.shape
    if _use_chunked(q, kv_table, bias, dropout_p, training):
        store_probs = store_probs and torch.is_grad_enabled() and any(
            t.requires_grad for t in (q, kv_table, bias))
        if chunks is None:
            chunks = plan_chunks(index, nh, length, window_bias)
        elif not chunks or chunks[0].start != 0 or chunks[-1].end != nw or any(
                a.end != c.start for a, c in zip(chunks, chunks[1:])):
            raise ValueError(f'chunks must cover the {nw} windows in order')
        elif bias_type is not None and any(c.cols is not None for c in chunks):
            raise ValueError('chunks that skip keys need a (nH, L, N) bias without bias_type')
        if torch.compiler.is_compiling():  # one opaque op for the compiler (see custom_ops)
            return gathered_attention_op(q, kv_table, bias, bias_type, *_flatten(chunks),
                                         store_probs)[0]
        return _ChunkedGatheredAttention.apply(q, kv_table, index, bias, bias_type, window_bias,
                                               store_probs, _Chunks(chunks))
    rows = kv_table.shape[2]
    k, v = _gather(kv_table.flatten(0, 1), _head_rows(index, b * nh, rows), nw, index.shape[1])
    every_window = WindowChunk(0, nw, None, index, window_bias)
    mask = _ChunkBias(bias, bias_type).mask(every_window).repeat(b, 1, 1, 1)  # B nH, nW|1, L, N
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


# ----------------------------------------------------------------- torch.compile registration
def _flatten(chunks):
    """Chunks as the custom op's arguments: starts, ends, cols, index, window_bias lists."""
    return ([c.start for c in chunks], [c.end for c in chunks], [c.cols for c in chunks],
            [c.index for c in chunks], [c.window_bias for c in chunks])


def _unflatten(starts, ends, cols, index, window_bias):
    # chunks that shared a set of kept keys share one tensor again (_ChunkBias caches by it)
    shared = {}
    cols = [None if c is None else shared.setdefault((c.data_ptr(), c.numel()), c)
            for c in cols]
    return [WindowChunk(*args) for args in zip(starts, ends, cols, index, window_bias)]


@torch.library.custom_op('mmvit::gathered_attention_chunked', mutates_args=())
def gathered_attention_op(
        q: torch.Tensor, kv_table: torch.Tensor, bias: torch.Tensor,
        bias_type: Optional[torch.Tensor], starts: list[int], ends: list[int],
        cols: list[Optional[torch.Tensor]], index: list[torch.Tensor],
        window_bias: list[Optional[torch.Tensor]], store_probs: bool
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """The CPU path of :func:`gathered_attention` as a custom op: ``(out, lse, probs)``
    (``lse`` empty with ``store_probs``, ``probs`` empty without)."""
    ctx = FunctionCtx()
    chunks = _unflatten(starts, ends, cols, index, window_bias)
    out = _ChunkedGatheredAttention.forward(ctx, q, kv_table, None, bias, bias_type, None,
                                            store_probs, _Chunks(chunks))
    lse = ctx.saved_tensors[-1]
    return out, q.new_empty(0) if lse is None else lse, list(ctx.probs)


@gathered_attention_op.register_fake
def _(q, kv_table, bias, bias_type, starts, ends, cols, index, window_bias, store_probs):
    b, nh, nw, length, _ = q.shape
    if store_probs:
        probs = [q.new_empty(nh, e - s, length, i.shape[1])
                 for _ in range(b) for s, e, i in zip(starts, ends, index)]
        return q.new_empty(q.shape), q.new_empty(0), probs
    lse = q.new_empty(b, nh, nw, length, dtype=torch.promote_types(q.dtype, torch.float32))
    return q.new_empty(q.shape), lse, []


@torch.library.custom_op('mmvit::gathered_attention_chunked_backward', mutates_args=())
def _gathered_attention_backward_op(
        grad_out: torch.Tensor, q: torch.Tensor, kv_table: torch.Tensor, bias: torch.Tensor,
        bias_type: Optional[torch.Tensor], out: torch.Tensor, lse: torch.Tensor,
        probs: list[torch.Tensor], starts: list[int], ends: list[int],
        cols: list[Optional[torch.Tensor]], index: list[torch.Tensor],
        window_bias: list[Optional[torch.Tensor]], needs: list[bool]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of q, kv_table and bias (empty where ``needs`` is False)."""
    ctx = FunctionCtx((q, kv_table, bias, bias_type, out, None if probs else lse),
                      (needs[0], needs[1], False, needs[2]),
                      chunks=_unflatten(starts, ends, cols, index, window_bias), probs=probs)
    grad_q, grad_table, _, grad_bias = _ChunkedGatheredAttention.backward(ctx, grad_out)[:4]
    return tuple(q.new_empty(0) if g is None else g.contiguous()
                 for g in (grad_q, grad_table, grad_bias))


@_gathered_attention_backward_op.register_fake
def _(grad_out, q, kv_table, bias, bias_type, out, lse, probs, starts, ends, cols, index,
      window_bias, needs):
    return tuple(t.new_empty(t.shape) if need else q.new_empty(0)
                 for t, need in zip((q, kv_table, bias), needs))


def _setup_context(ctx, inputs, output):
    q, kv_table, bias, bias_type, starts, ends, cols, index, window_bias, _ = inputs
    out, lse, probs = output
    n = len(starts)
    ctx.starts, ctx.ends, ctx.num_probs = starts, ends, len(probs)
    ctx.save_for_backward(q, kv_table, bias, bias_type, out, lse, *probs, *cols, *index,
                          *window_bias)
    ctx.num_chunks = n


def _backward(ctx, grad_out, grad_lse, grad_probs):
    saved, n, p = ctx.saved_tensors, ctx.num_chunks, ctx.num_probs
    q, kv_table, bias, bias_type, out, lse = saved[:6]
    probs = list(saved[6:6 + p])
    cols, index, window_bias = (list(saved[6 + p + i * n:6 + p + (i + 1) * n])
                                for i in range(3))
    needs = [bool(ctx.needs_input_grad[i]) for i in range(3)]
    grads = _gathered_attention_backward_op(grad_out, q, kv_table, bias, bias_type, out, lse,
                                            probs, ctx.starts, ctx.ends, cols, index,
                                            window_bias, needs)
    grads = [g if need else None for g, need in zip(grads, needs)]
    # None for the other inputs, in their structure (needs_input_grad has it)
    return (*grads, *tree_map(lambda _: None, tuple(ctx.needs_input_grad[3:])))


torch.library.register_autograd('mmvit::gathered_attention_chunked', _backward,
                                setup_context=_setup_context)
register_float32_autocast(gathered_attention_op)
