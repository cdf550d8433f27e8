"""Attention with DAT++'s sampled relative position bias, without the (queries x keys) tensors.

DAT++ adds to the logit of query ``(qy, qx)`` and sampled key ``k`` the bias
``bilinear(table, 0.5 * (q_grid - pos_k))`` (``grid_sample``, ``align_corners=True``, zero
padding). Bilinear sampling is separable: the table row coordinate
``fy = (0.5 * (qy_n - py_k) + 1) * (Th - 1) / 2`` depends only on (query row, key), the column
coordinate only on (query column, key). So for each key the bias over all queries is
``R_y(k) @ table @ R_x(k)^T`` with two-tap interpolation matrices, computed here as

* ``U[k] = table[rows of k's window] @ R_x(k)^T``: the ``Jy`` table rows that key ``k`` can
  reach (``Jy = (Th - 1) / 2 + 3``: the queries span half the table), interpolated at every
  query column; one contiguous row per (key, query column) of a table of sliding windows is
  gathered with ``index_select`` for each tap (no per-element gathers);
* ``bias[k] = R_y(k) @ U[k]``: a batched GEMM over the keys, restricted per chunk of query rows
  to the few ``U`` rows the chunk reads, accumulated straight into the logits.

The attention runs key-major (logits ``(keys, queries)``, softmax over the keys) so that the
bias rows land where the row interpolation writes them, over chunks of query rows that stay
in cache: per chunk two GEMMs for the logits (``k^T q * scale``, then the bias added by the row
interpolation GEMM), a softmax and one GEMM with ``v``.
Backward recomputes each chunk's bias and probabilities from the saved ``q, k, v, out`` and
log-sum-exp, so no
``(queries x keys x heads)`` tensor is kept, and returns the gradients of ``q, k, v``, of the
table and of the sampling positions (through the interpolation weights, as ``grid_sample``'s
backward does). Only public tensor ops: the same code runs on every device.
"""
import math

import torch

from .custom_ops import (FunctionCtx, autocast_backward, autograd_inside_op, float32_forward,
                         register_float32_autocast)

__all__ = ['separable_bias_attention']

# floats of one chunk's (batch*heads, keys, chunk queries) logits block: small enough to stay
# in cache and in the allocator's reused blocks, large enough for good GEMMs
CHUNK_LOGITS = 1 << 20
COLUMN_CHUNK = 1 << 22
MIN_CHUNK_QUERIES = 512


class _Geometry:
    """Taps and weights of the separable interpolation for one call.

    Coordinates are in a table padded with one zero row/column before and ``Jy + 2`` rows /
    two columns after, so that out-of-table taps read zeros (``grid_sample``'s zero padding)
    and every key's window of ``Jy`` rows is inside the padded table.
    """

    def __init__(self, pos, q_hw, table_hw, num_groups, heads):
        BG, Hk, Wk, _ = pos.shape
        H, W = q_hw
        Th, Tw = table_hw
        self.BG, self.Ns, self.H, self.W = BG, Hk * Wk, H, W
        self.hg = heads // num_groups
        self.num_groups = num_groups
        dtype, device = pos.dtype, pos.device
        p = pos.reshape(BG, self.Ns, 2)
        self.jy = int(math.floor((Th - 1) * 0.5)) + 3  # rows one key's window may need
        fy, self.in_y = self._coords(H, p[..., 0], Th, dtype, device)  # (BG, H, Ns)
        fx, self.in_x = self._coords(W, p[..., 1], Tw, dtype, device)  # (BG, W, Ns)
        y0 = fy.floor()
        x0 = fx.floor()
        self.wy = (fy - y0).transpose(1, 2)  # (BG, Ns, H): weight of row y0 + 1
        wx = (fx - x0).transpose(1, 2).unsqueeze(1)  # (BG, 1, Ns, W): weight of column x0 + 1
        self.wx_t = wx.expand(BG, self.hg, self.Ns, W).reshape(-1, W, 1)
        y0 = y0.long().transpose(1, 2)  # (BG, Ns, H), padded coordinates
        x0 = x0.long().transpose(1, 2)  # (BG, Ns, W)
        self.row_start = y0[..., 0]  # (BG, Ns): first padded table row of each key's window
        self.rel = (y0 - self.row_start[..., None]).clamp_(0, self.jy - 2)  # (BG, Ns, H)
        self.x0 = x0  # (BG, Ns, W)
        # d coordinate / d position: f = (0.5 * (q - p) + 1) * (T - 1) / 2
        self.dfy_dp = -0.25 * (Th - 1)
        self.dfx_dp = -0.25 * (Tw - 1)
        self.table_hw = table_hw

    @staticmethod
    def _coords(length, p, table_len, dtype, device):
        q = torch.arange(length, dtype=dtype, device=device).div_(length - 1.0).mul_(2.0).sub_(1.0)
        disp = (q.view(1, -1, 1) - p.unsqueeze(1)).mul_(0.5)
        f = disp.add_(1.0).mul_((table_len - 1) / 2.0)
        # beyond one cell outside the table both taps read zeros: clamp (no gradient there)
        inside = (f > -1.0) & (f < table_len)
        return f.clamp_(-1.0, float(table_len)).add_(1.0), inside

    def padded_table(self, table):
        """``(heads, Th, Tw)`` -> ``(heads, 1 + Th + Jy + 2, 1 + Tw + 2)`` with zeros around."""
        return torch.nn.functional.pad(table, (1, 2, 1, self.jy + 2))

    def windows(self, table_p):
        """``(heads * A * (Cp - 1), 2, Jy)``: for every padded table row ``a`` (window start)
        and column ``c``, the columns ``c`` and ``c + 1`` of the rows ``[a, a + Jy)``; so one
        key's window at one query column is one contiguous row of this table."""
        w = table_p.unfold(1, self.jy, 1).unfold(2, 2, 1)  # (heads, A, Cp - 1, Jy, 2)
        return w.transpose(-1, -2).reshape(-1, 2, self.jy)

    def column_index(self, table_p):
        """Rows of :meth:`windows` read for every (batch-head, key, query column)."""
        G, hg = self.num_groups, self.hg
        heads, rows_p, cols_p = table_p.shape
        A = rows_p - self.jy + 1
        dev = table_p.device
        g = torch.arange(self.BG, device=dev) % G
        head = (g[:, None] * hg + torch.arange(hg, device=dev)).view(self.BG, hg, 1, 1)
        start = self.row_start.view(self.BG, 1, self.Ns, 1)
        x0 = self.x0.view(self.BG, 1, self.Ns, self.W)
        return ((head * A + start) * (cols_p - 1) + x0).reshape(-1)

    def _key_chunks(self):
        # bounded temporaries: taps of at most COLUMN_CHUNK floats per step
        n = self.BG * self.hg * self.Ns
        step = max(1, COLUMN_CHUNK // (2 * self.W * self.jy))
        return [(i, min(i + step, n)) for i in range(0, n, step)]

    def column_interpolation(self, windows, index, dtype):
        """``U (BG * hg * Ns, Jy, W)``: every key's window rows interpolated at every query
        column."""
        n, W, J = self.BG * self.hg * self.Ns, self.W, self.jy
        u = windows.new_empty(n, J, W, dtype=dtype)
        for k0, k1 in self._key_chunks():
            taps = windows.index_select(0, index[k0 * W:k1 * W]).view(k1 - k0, W, 2, J)
            u_t = torch.lerp(taps[:, :, 0], taps[:, :, 1], self.wx_t[k0:k1])
            u[k0:k1] = u_t.transpose(1, 2)
        return u

    def column_interpolation_backward(self, grad_u, windows, index):
        """Gradients of the window table and of ``wx`` from the gradient of ``U``."""
        W, J = self.W, self.jy
        grad_wx = grad_u.new_empty(grad_u.shape[0], W)
        grad_w = [grad_u.new_zeros(windows.shape[0], J) for _ in range(2)]
        for k0, k1 in self._key_chunks():
            idx = index[k0 * W:k1 * W]
            taps = windows.index_select(0, idx).view(k1 - k0, W, 2, J)
            gu = grad_u[k0:k1].transpose(1, 2)  # (n, W, Jy)
            grad_wx[k0:k1] = (gu * (taps[:, :, 1] - taps[:, :, 0])).sum(-1)
            g1 = (gu * self.wx_t[k0:k1]).reshape(-1, J)
            grad_w[0].index_add_(0, idx, gu.reshape(-1, J) - g1)
            grad_w[1].index_add_(0, idx, g1)
        grad_windows = torch.stack(grad_w, 1)
        return grad_windows, grad_wx.view(self.BG, self.hg, self.Ns, W).sum(1)

    def row_windows(self):
        """Per query row, the range of ``U`` rows any key reads (one host sync per call)."""
        self.rel_lo = self.rel.amin((0, 1)).tolist()
        self.rel_hi = self.rel.amax((0, 1)).tolist()

    def row_interpolation(self, r0, r1):
        """Row interpolation matrices of query rows ``[r0, r1)`` over the ``U`` rows
        ``[j0, j0 + J)`` they read: ``(BG * hg * Ns, r1 - r0, J)`` and ``j0``."""
        j0 = min(self.rel_lo[r0:r1])
        j1 = max(self.rel_hi[r0:r1]) + 2
        rel = (self.rel[..., r0:r1] - j0).unsqueeze(-1)
        w = self.wy[..., r0:r1].unsqueeze(-1)
        ry = w.new_zeros(self.BG, self.Ns, r1 - r0, j1 - j0)
        ry.scatter_(3, rel, 1.0 - w).scatter_(3, rel + 1, w)
        ry = ry.unsqueeze(1).expand(self.BG, self.hg, self.Ns, r1 - r0, j1 - j0)
        return ry.reshape(-1, r1 - r0, j1 - j0), j0, j1

    def row_weight_grad(self, grad_ry, r0, r1, j0):
        """Gradient of the row weights ``wy[..., r0:r1]`` from that of their matrices."""
        rel = (self.rel[..., r0:r1] - j0).unsqueeze(1).unsqueeze(-1)  # (BG, 1, Ns, R, 1)
        g = grad_ry.view(self.BG, self.hg, self.Ns, r1 - r0, -1)
        rel = rel.expand(self.BG, self.hg, self.Ns, r1 - r0, 1)
        return (g.gather(4, rel + 1) - g.gather(4, rel)).sum((1, 4))  # (BG, Ns, R)

    def position_grad(self, grad_wy, grad_wx):
        """``(BG, Hk*Wk, 2)`` gradient of the (y, x) positions from the weights' gradients."""
        gy = (grad_wy * self.in_y.transpose(1, 2)).sum(2).mul_(self.dfy_dp)
        gx = (grad_wx * self.in_x.transpose(1, 2)).sum(2).mul_(self.dfx_dp)
        return torch.stack([gy, gx], -1)


def _chunk_buffer(like, bh, ns, chunks, w):
    """One logits-sized buffer for every chunk: a GEMM into a reused block is faster than into
    a fresh one (no page faults), see :func:`_view`."""
    return like.new_empty(bh * ns * max(r1 - r0 for r0, r1 in chunks) * w)


def _view(buf, bh, ns, n):
    """The first ``bh * ns * n`` floats of ``buf`` as a contiguous ``(bh, ns, n)`` block."""
    return buf[:bh * ns * n].view(bh, ns, n)


def _logits(kt, qh, u, geo, r0, r1, scale, buf):
    """Key-major logits ``(BH, Ns, (r1 - r0) * W)`` of query rows ``[r0, r1)``, bias included
    (added by the row interpolation GEMM itself), written into ``buf``."""
    W = geo.W
    logits = torch.bmm(kt, qh[:, :, r0 * W:r1 * W],
                       out=_view(buf, kt.shape[0], kt.shape[1], (r1 - r0) * W)).mul_(scale)
    ry, j0, j1 = geo.row_interpolation(r0, r1)
    ry = ry.to(logits.dtype)
    logits.view(-1, r1 - r0, W).baddbmm_(ry, u[:, j0:j1])
    return logits, ry, j0, j1


def _row_chunks(bh, ns, h, w):
    # at least MIN_CHUNK_QUERIES queries: the row interpolation GEMMs are (rows x J) @ (J x W)
    step = max(-(-MIN_CHUNK_QUERIES // w), CHUNK_LOGITS // max(1, bh * ns * w))
    return [(r, min(r + step, h)) for r in range(0, h, step)]


class _SeparableBiasAttention(torch.autograd.Function):

    @staticmethod
    @float32_forward
    def forward(ctx, q, k, v, table, pos, scale, num_groups):
        B, C, H, W = q.shape
        heads = table.shape[0]
        d = C // heads
        BH, Ns = B * heads, k.shape[-1]
        geo = _Geometry(pos.detach(), (H, W), table.shape[1:], num_groups, heads)
        table_p = geo.padded_table(table.detach().to(pos.dtype))
        geo.row_windows()
        u = geo.column_interpolation(geo.windows(table_p), geo.column_index(table_p), q.dtype)
        qh = q.reshape(BH, d, H * W)
        kt = k.reshape(BH, d, Ns).transpose(1, 2)  # (BH, Ns, d)
        vh = v.reshape(BH, d, Ns)
        out = q.new_empty(BH, d, H * W)
        lse = q.new_empty(BH, 1, H * W, dtype=torch.promote_types(q.dtype, torch.float32))
        chunks = _row_chunks(BH, Ns, H, W)
        buf = _chunk_buffer(q, BH, Ns, chunks, W)
        for r0, r1 in chunks:
            s = slice(r0 * W, r1 * W)
            logits = _logits(kt, qh, u, geo, r0, r1, scale, buf)[0]
            # softmax with its log-sum-exp kept, so backward recomputes P in one pass
            m = logits.amax(1, keepdim=True)
            prob = logits.sub_(m).exp_()
            total = prob.sum(1, keepdim=True)
            prob.div_(total)
            out[:, :, s] = torch.bmm(vh, prob)
            lse[:, :, s] = total.log_().add_(m)
        out = out.view(B, C, H, W)
        ctx.save_for_backward(q, k, v, table, pos, out, lse)
        ctx.scale, ctx.num_groups = scale, num_groups
        return out

    @staticmethod
    @autocast_backward
    def backward(ctx, grad_out):
        q, k, v, table, pos, out, lse = ctx.saved_tensors
        scale = ctx.scale
        B, C, H, W = q.shape
        heads = table.shape[0]
        d = C // heads
        BH, Ns = B * heads, k.shape[-1]
        need_q, need_k, need_v, need_table, need_pos = ctx.needs_input_grad[:5]
        need_bias = need_table or need_pos
        geo = _Geometry(pos.detach(), (H, W), table.shape[1:], ctx.num_groups, heads)
        table_p = geo.padded_table(table.detach().to(pos.dtype))
        geo.row_windows()
        with torch.enable_grad():
            table_p = table_p.detach().requires_grad_()
            windows = geo.windows(table_p)
        index = geo.column_index(table_p)
        u = geo.column_interpolation(windows.detach(), index, q.dtype)
        qh = q.reshape(BH, d, H * W)
        kt = k.reshape(BH, d, Ns).transpose(1, 2)
        vh = v.reshape(BH, d, Ns)
        go = grad_out.reshape(BH, d, H * W)
        delta = (go * out.reshape(BH, d, H * W)).sum(1, keepdim=True)  # (BH, 1, HW)
        grad_q = torch.empty_like(qh) if need_q else None
        grad_kt = kt.new_zeros(BH, Ns, d) if need_k else None
        grad_v = vh.new_zeros(BH, d, Ns) if need_v else None
        grad_u = torch.zeros_like(u) if need_bias else None
        grad_wy = u.new_zeros(geo.BG, Ns, H) if need_pos else None
        chunks = _row_chunks(BH, Ns, H, W)
        buf = _chunk_buffer(q, BH, Ns, chunks, W)
        ds_buf = _chunk_buffer(q, BH, Ns, chunks, W)
        for r0, r1 in chunks:
            s = slice(r0 * W, r1 * W)
            logits, ry, j0, j1 = _logits(kt, qh, u, geo, r0, r1, scale, buf)
            prob = logits.sub_(lse[:, :, s].to(logits.dtype)).exp_()
            if need_v:
                grad_v.baddbmm_(go[:, :, s], prob.transpose(1, 2))
            # dS = P * (dP - delta), dP = v^T dO (key-major)
            ds = torch.bmm(vh.transpose(1, 2), go[:, :, s],
                           out=_view(ds_buf, BH, Ns, (r1 - r0) * W))
            ds = ds.sub_(delta[:, :, s]).mul_(prob)
            del prob
            if need_q:
                grad_q[:, :, s] = torch.bmm(kt.transpose(1, 2), ds).mul_(scale)
            if need_k:
                grad_kt.baddbmm_(ds, qh[:, :, s].transpose(1, 2), alpha=scale)
            if need_bias:
                ds = ds.view(BH * Ns, r1 - r0, W)
                if need_pos:
                    grad_ry = torch.bmm(ds, u[:, j0:j1].transpose(1, 2))
                    grad_wy[..., r0:r1] = geo.row_weight_grad(grad_ry, r0, r1, j0)
                # a batched GEMM into the strided slice would run matrix by matrix
                grad_u[:, j0:j1] += torch.bmm(ry.transpose(1, 2), ds)
        grad_table = grad_pos = None
        if need_bias:
            del u
            grad_windows, grad_wx = geo.column_interpolation_backward(
                grad_u.to(table_p.dtype), windows.detach(), index)
            if need_table:
                gt_p, = torch.autograd.grad(windows, table_p, grad_windows)
                Th, Tw = table.shape[1:]
                grad_table = gt_p[:, 1:1 + Th, 1:1 + Tw].to(table.dtype)
            if need_pos:
                grad_pos = geo.position_grad(grad_wy, grad_wx).view(pos.shape).to(pos.dtype)
        grad_q = grad_q.view(q.shape) if need_q else None
        grad_k = grad_kt.transpose(1, 2).reshape(k.shape) if need_k else None
        grad_v = grad_v.view(v.shape) if need_v else None
        return grad_q, grad_k, grad_v, grad_table, grad_pos, None, None


def separable_bias_attention(q, k, v, table, pos, scale, num_groups):
    """``softmax(k^T q * scale + bias)``-weighted sum of ``v`` for every query, with DAT++'s
    grid-sampled relative position bias (see the module docstring).

    Args:
        q (Tensor): ``(B, C, H, W)`` queries (``C = heads * d``).
        k (Tensor), v (Tensor): ``(B, C, 1, Ns)`` (or any shape of ``B * C * Ns`` elements in
            that order) sampled keys and values.
        table (Tensor): ``(heads, Th, Tw)`` bias table.
        pos (Tensor): ``(B * G, Hk, Wk, 2)`` key positions in (y, x) order, ``Hk * Wk = Ns``.
        scale (float): logit scale, applied after the product.
        num_groups (int): ``G``; heads ``[g * h/G, (g+1) * h/G)`` use the positions of group g.

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    if torch.compiler.is_compiling():  # one opaque op for the compiler (see custom_ops)
        return separable_bias_attention_op(q, k, v, table, pos, scale, num_groups)[0]
    return _SeparableBiasAttention.apply(q, k, v, table, pos, scale, num_groups)


# ----------------------------------------------------------------- torch.compile registration
@torch.library.custom_op('mmvit::separable_bias_attention', mutates_args=())
def separable_bias_attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                table: torch.Tensor, pos: torch.Tensor, scale: float,
                                num_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`separable_bias_attention` as a custom op: ``(out, log-sum-exp)``."""
    ctx = FunctionCtx()
    out = _SeparableBiasAttention.forward(ctx, q, k, v, table, pos, scale, num_groups)
    return out, ctx.saved_tensors[-1]


@separable_bias_attention_op.register_fake
def _(q, k, v, table, pos, scale, num_groups):
    B, _, H, W = q.shape
    lse = q.new_empty(B * table.shape[0], 1, H * W,
                      dtype=torch.promote_types(q.dtype, torch.float32))
    return torch.empty_like(q, memory_format=torch.contiguous_format), lse


@torch.library.custom_op('mmvit::separable_bias_attention_backward', mutates_args=())
def _separable_backward_op(grad_out: torch.Tensor, q: torch.Tensor, k: torch.Tensor,
                           v: torch.Tensor, table: torch.Tensor, pos: torch.Tensor,
                           out: torch.Tensor, lse: torch.Tensor, scale: float, num_groups: int,
                           needs: list[bool]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                       torch.Tensor, torch.Tensor]:
    """Gradients of q, k, v, table and pos (empty where ``needs`` is False)."""
    ctx = FunctionCtx((q, k, v, table, pos, out, lse), needs, scale=scale,
                      num_groups=num_groups)
    with autograd_inside_op():
        grads = _SeparableBiasAttention.backward(ctx, grad_out)[:5]
    return tuple(q.new_empty(0) if g is None else g.contiguous() for g in grads)


@_separable_backward_op.register_fake
def _(grad_out, q, k, v, table, pos, out, lse, scale, num_groups, needs):
    return tuple(torch.empty_like(t, memory_format=torch.contiguous_format) if need
                 else q.new_empty(0) for t, need in zip((q, k, v, table, pos), needs))


def _setup_context(ctx, inputs, output):
    q, k, v, table, pos, scale, num_groups = inputs
    ctx.save_for_backward(q, k, v, table, pos, *output)
    ctx.scale, ctx.num_groups = scale, num_groups


def _backward(ctx, grad_out, grad_lse):
    needs = [bool(n) for n in ctx.needs_input_grad[:5]]
    grads = _separable_backward_op(grad_out, *ctx.saved_tensors, ctx.scale, ctx.num_groups,
                                   needs)
    return (*(g if n else None for g, n in zip(grads, needs)), None, None)


torch.library.register_autograd('mmvit::separable_bias_attention', _backward,
                                setup_context=_setup_context)
register_float32_autocast(separable_bias_attention_op)
