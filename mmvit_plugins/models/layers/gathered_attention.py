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

Keys that no query of a window can effectively attend to (Focal's pooled padding: a zero key
and value behind a -100 mask, whose weight exp(-100 + ...) is far below float32 resolution of
the row) need not be computed at all: :func:`plan_chunks` groups consecutive windows into
chunks and keeps, per chunk, only the keys some window of the chunk can attend to; the CPU
path then does that much less work. Windows of a chunk keep their masks on the kept keys,
so every kept logit is the formula's.
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


class WindowChunks:
    """Windows grouped into chunks for the CPU path of :func:`gathered_attention`.

    Built by :func:`plan_chunks` (keys negligible for a whole chunk left out) or
    :meth:`uniform` (every key). A chunk is ``(start, end, columns, chunk_index)``: windows
    ``[start, end)``, their key rows ``chunk_index`` ``(end - start, n)`` and ``columns``,
    None when the chunk keeps all N keys, else the range of its kept key positions in
    ``kept_slots``, the kept positions of all such chunks concatenated (so that the bias and
    the window masks of every chunk are selected in one call per forward).
    """

    def __init__(self, index, chunks, kept_slots):
        self.num_windows, self.num_keys = index.shape
        self.chunks = chunks
        self.kept_slots = kept_slots
        self._kept_mask_rows = None
        self._head_rows = {}

    @classmethod
    def uniform(cls, index, num_heads, queries):
        nw = index.shape[0]
        step = _chunk_windows(num_heads, queries, index.shape[1])
        return cls(index, [(s, min(s + step, nw), None, index[s:s + step])
                           for s in range(0, nw, step)], None)

    def head_rows(self, num_heads, rows):
        """Per chunk, the rows of its keys in the ``(nH * R)``-row view of the table."""
        key = (num_heads, rows)
        if key not in self._head_rows:
            self._head_rows[key] = [_head_rows(c[3], num_heads, rows).reshape(-1)
                                    for c in self.chunks]
        return self._head_rows[key]

    def kept_mask_rows(self):
        """Rows of the kept (window, key) pairs of the key-skipping chunks, in the
        ``(nW * N)``-row view of a window mask, chunk after chunk."""
        if self._kept_mask_rows is None:
            rows = [(torch.arange(s, e, device=self.kept_slots.device).view(-1, 1)
                     * self.num_keys + self.kept_slots[c0:c1]).view(-1)
                    for s, e, cols, _ in self.chunks if cols is not None
                    for c0, c1 in (cols, )]
            self._kept_mask_rows = torch.cat(rows)
        return self._kept_mask_rows


def plan_chunks(index, live, num_heads, queries, max_waste=0.1):
    """Chunks of consecutive windows that skip the keys none of their windows can attend to.

    Args:
        index (LongTensor): ``(nW, N)`` as for :func:`gathered_attention`.
        live (BoolTensor): ``(nW, N)``, False for keys whose attention weight is known to be
            negligible for every query of the window (e.g. zero keys behind a -100 mask);
            every window needs at least one live key.
        num_heads (int), queries (int): nH and L, which size the chunks (``CHUNK_LOGITS``).
        max_waste (float): a chunk grows while the dead keys its windows still compute (the
            union of their live keys minus their own) stay within this share of its work.

    Returns:
        WindowChunks: pass it as ``chunks``.
    """
    nw, n = index.shape
    if tuple(live.shape) != (nw, n):
        raise ValueError(f'live must be (nW, N) = {(nw, n)}, got {tuple(live.shape)}')
    live = live.detach().to('cpu', torch.bool)
    if not bool(live.any(1).all()):
        raise ValueError('every window needs at least one live key')
    counts = live.sum(1).tolist()
    chunks, kept, offset, s = [], [], 0, 0
    while s < nw:
        union, useful, e = live[s].clone(), counts[s], s + 1
        while e < nw:
            grown = union | live[e]
            size = int(grown.sum())
            windows = e + 1 - s
            if (windows * num_heads * queries * size > CHUNK_LOGITS
                    or windows * size > (1 + max_waste) * (useful + counts[e])):
                break
            union, useful, e = grown, useful + counts[e], e + 1
        if bool(union.all()):
            chunks.append((s, e, None, index[s:e]))
        else:
            slots = union.nonzero().view(-1).to(index.device)
            kept.append(slots)
            chunks.append((s, e, (offset, offset + len(slots)), index[s:e].index_select(1, slots)))
            offset += len(slots)
        s = e
    return WindowChunks(index, chunks, torch.cat(kept) if kept else None)


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


def _select_kept(plan, bias, window_bias):
    """The bias and window masks on the kept keys of all key-skipping chunks, or Nones:
    ``(nH, [T,] L, K)`` and ``(sum n_c * N_c, L or 1)``."""
    if plan.kept_slots is None:
        return None, None
    kept_bias = bias.index_select(-1, plan.kept_slots)
    kept_window_bias = None
    if window_bias is not None:
        flat = window_bias.transpose(1, 2).reshape(-1, window_bias.shape[1])
        kept_window_bias = flat.index_select(0, plan.kept_mask_rows())
    return kept_bias, kept_window_bias


class _ChunkMasks:
    """Per chunk, the additive mask (bias + window masks) on its keys."""

    def __init__(self, plan, bias, bias_type, window_bias):
        self.bias, self.bias_type, self.window_bias = bias, bias_type, window_bias
        self.kept_bias, self.kept_window_bias = _select_kept(plan, bias, window_bias)
        self.mask_offsets = []
        offset = 0
        for s, e, cols, _ in plan.chunks:
            self.mask_offsets.append(offset)
            if cols is not None:
                offset += (e - s) * (cols[1] - cols[0])

    def __call__(self, c, chunk):
        """(nH, n or 1, L, n_keys)."""
        s, e, cols, _ = chunk
        if cols is None:
            bias = self.bias
            window_bias = None if self.window_bias is None else self.window_bias[s:e]
        else:
            bias = self.kept_bias[..., cols[0]:cols[1]]
            window_bias = None
            if self.kept_window_bias is not None:
                start, keys = self.mask_offsets[c], cols[1] - cols[0]
                window_bias = self.kept_window_bias[start:start + (e - s) * keys]
                window_bias = window_bias.view(e - s, keys, -1).transpose(1, 2)
        if self.bias_type is None:
            mask = bias.unsqueeze(1)
        else:
            mask = bias.index_select(1, self.bias_type[s:e])
        if window_bias is None:
            return mask
        return mask + window_bias.unsqueeze(0)


class _ChunkedGatheredAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, kv_table, index, bias, bias_type, window_bias, store_probs, plan):
        b, nh, nw, length, d = q.shape
        rows = kv_table.shape[2]
        if plan is None:
            plan = WindowChunks.uniform(index, nh, length)
        masks = _ChunkMasks(plan, bias, bias_type, window_bias)
        head_rows = plan.head_rows(nh, rows)
        out, lse = q.new_empty(q.shape), None
        probs = [] if store_probs else None  # per (batch, chunk): chunks differ in keys
        for i in range(b):
            for c, chunk in enumerate(plan.chunks):
                s, e, _, chunk_index = chunk
                k, v = _gather(kv_table[i], head_rows[c], e - s, chunk_index.shape[1])
                mask = masks(c, chunk)
                if store_probs:  # plain softmax, kept for backward
                    prob = (q[i, :, s:e] @ k.transpose(-2, -1)).add_(mask).softmax(-1)
                    probs.append(prob)
                    out[i, :, s:e] = prob @ v
                    continue
                # the kernel's (batch, heads) are our (heads, windows)
                o, l = _CPU_FLASH(q[i, :, s:e], k, v, 0.0, False, attn_mask=mask, scale=1.0)
                if lse is None:
                    lse = l.new_empty((b, nh, nw, length))
                out[i, :, s:e] = o
                lse[i, :, s:e] = l
        ctx.save_for_backward(q, kv_table, index, bias, bias_type, window_bias, out, lse)
        ctx.plan, ctx.probs = plan, probs
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, kv_table, index, bias, bias_type, window_bias, out, lse = ctx.saved_tensors
        plan, probs = ctx.plan, ctx.probs
        b, nh, nw, length, d = q.shape
        rows = kv_table.shape[2]
        masks = _ChunkMasks(plan, bias, bias_type, window_bias)
        head_rows = plan.head_rows(nh, rows)
        need_q, need_table, _, need_bias = ctx.needs_input_grad[:4]
        grad_q = torch.empty_like(q) if need_q else None
        grad_table = torch.empty_like(kv_table) if need_table else None
        grad_dtype = torch.promote_types(bias.dtype, torch.float32)
        grad_bias = grad_kept = None
        if need_bias:
            grad_bias = torch.zeros(bias.shape, dtype=grad_dtype)
            if plan.kept_slots is not None:  # of the key-skipping chunks' selected bias
                grad_kept = torch.zeros(masks.kept_bias.shape, dtype=grad_dtype)
        # rowsum(dO * O): the softmax backward's correction term
        delta = (grad_out * out).sum(-1, keepdim=True)
        for i in range(b):
            if need_table:  # contiguous accumulators: index_add_ into strided rows is slow
                grad_k_rows = kv_table.new_zeros(nh * rows, d)
                grad_v_rows = kv_table.new_zeros(nh * rows, d)
            for c, chunk in enumerate(plan.chunks):
                s, e, cols, chunk_index = chunk
                k, v = _gather(kv_table[i], head_rows[c], e - s, chunk_index.shape[1])
                qc, go = q[i, :, s:e], grad_out[i, :, s:e]
                if probs is not None:
                    prob = probs[i * len(plan.chunks) + c]
                else:  # P = exp(q k^T + mask - lse): the forward's probabilities, recomputed
                    prob = (qc @ k.transpose(-2, -1)).add_(masks(c, chunk))
                    prob = _exp_flushed(prob.sub_(lse[i, :, s:e].unsqueeze(-1).to(prob.dtype)))
                grad_logits = (go @ v.transpose(-2, -1)).sub_(delta[i, :, s:e]).mul_(prob)
                if need_bias:
                    target = grad_bias if cols is None else grad_kept[..., cols[0]:cols[1]]
                    if bias_type is None:
                        target += grad_logits.sum(1)
                    else:
                        target.index_add_(1, bias_type[s:e], grad_logits.to(grad_dtype))
                if need_q:
                    grad_q[i, :, s:e] = grad_logits @ k
                if need_table:
                    grad_k_rows.index_add_(0, head_rows[c],
                                           (grad_logits.transpose(-2, -1) @ qc).view(-1, d))
                    grad_v_rows.index_add_(0, head_rows[c],
                                           (prob.transpose(-2, -1) @ go).view(-1, d))
            if need_table:
                grad_table[i] = torch.stack([grad_k_rows, grad_v_rows], 1).view(nh, rows, 2, d)
        if need_bias:
            if grad_kept is not None:
                grad_bias.index_add_(-1, plan.kept_slots, grad_kept)
            grad_bias = grad_bias.to(bias.dtype)
        return grad_q, grad_table, None, grad_bias, None, None, None, None


def _use_chunked(q, kv_table, bias, dropout_p, training):
    return (_CPU_FLASH is not None and q.device.type == 'cpu'
            and not (training and dropout_p > 0)
            and q.dtype == kv_table.dtype == bias.dtype
            and q.dtype in (torch.float32, torch.float64, torch.bfloat16))


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
        chunks (WindowChunks, optional): CPU path: the window chunks from
            :func:`plan_chunks` (keys negligible for a whole chunk are skipped); default:
            every key, windows in chunks of ``CHUNK_LOGITS`` logits. Other paths compute
            every key.

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
                                               store_probs, chunks)
    b, nh, nw, length, d = q.shape
    rows = kv_table.shape[2]
    k, v = _gather(kv_table.flatten(0, 1), _head_rows(index, b * nh, rows), nw, index.shape[1])
    mask = bias.unsqueeze(1) if bias_type is None else bias.index_select(1, bias_type)
    if window_bias is not None:
        mask = mask + window_bias.unsqueeze(0)
    mask = mask.repeat(b, 1, 1, 1)  # (B nH, nW or 1, L, N)
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
