"""Exact sliding-window local self-attention (Stand-Alone Self-Attention, arXiv 1906.05909).

Every output pixel ``(i, j)`` attends to the ``k x k`` window centred on it::

    y_ij = sum_{(a,b) in N_k(i,j)} softmax_ab(s * q_ij . k_ab + q_ij . r_{a-i,b-j}) v_ab

with dense bias-free 1x1 projections ``q, k, v`` (``in_channels -> out_channels``) split into
``num_heads`` heads, and the relative embedding ``r`` the concatenation of a row table and a
column table, each ``out_channels / 2`` wide (paper Eq. 3, Fig. 4). The softmax runs over the
``k^2`` window positions of each query, per head.

Three numerically equivalent implementations (``impl``):

* ``'fast'``: halo blocks. Queries are grouped into ``block_size x block_size`` blocks; each block
  gathers one ``(block_size + k - 1)^2`` key/value window (a strided view, one copy), computes the
  block's logits with batched matmuls, and a *fixed* band mask keeps, for every query, exactly its
  own ``k x k`` window. The mask geometry is the same for every block, so this is the exact
  sliding window (not HaloNet's blocked attention). The relative logits and the mask enter as
  one row and one column term per query, the softmax runs in place, and a custom backward
  works on contiguous blocks (:class:`_BlockedWindowAttention`). Memory per layer ~``(b + k - 1)^2 / k^2``
  times the exact logits (2x for the default ``b = 4``, 4x for ``b = 8``, with ``k = 7``) and
  ``(b + k - 1)^2 / b^2`` times K/V, never a ``k^2``-fold copy of the whole map.
* ``'reference'``: a loop over the ``k^2`` offsets on shifted views of the zero-padded keys and
  values (no unfold); the plain formula, used to check the fast path.
* ``'unfold'``: the naive per-pixel unfold (``k^2`` copies of K and V). Memory-hungry; kept for
  benchmarks and because its matmuls are exactly the layer's arithmetic, so FLOP counters see the
  paper's ``3 w^2 + 3 k^2 w`` multiply-adds per pixel with it.

Decisions on what the paper leaves open (documented in ``configs/sasa/README.md``):

* borders (``border``): ``'zero'`` (default) treats positions outside the map as zero keys and
  values, which still take softmax mass through their ``q . r`` logit, like a convolution's zero
  padding; ``'mask'`` excludes them from the softmax;
* relative split (``rel_split``): ``'per_head'`` (default) gives every head ``d/2`` row and ``d/2``
  column channels; ``'literal'`` concatenates the two ``out_channels/2`` tables before cutting
  heads, so the first half of the heads sees only row offsets;
* ``qk_scale``: ``True`` (default) scales ``q . k`` (not ``q . r``) by ``d^-1/2``; ``False`` is
  Eq. 3 literally; a float sets the factor;
* stride 2: attention at stride 1, then ``2 x 2`` average pooling with ``ceil_mode=True`` (the
  output size equals a strided 3x3 convolution's, ``ceil(H/2)``, also for odd sizes).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS

from .attention import EXP_FLOOR, softmax_nograd_
from .attention_capture import record_attention
from .custom_ops import autocast_backward, float32_forward

LOCAL_ATTENTION_IMPLS = ('fast', 'reference', 'unfold')
POS_ENCODINGS = ('relative', 'absolute', 'none')
LOGIT_TYPES = ('qk_qr', 'qr')
REL_SPLITS = ('per_head', 'literal')
BORDERS = ('zero', 'mask')


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f'{name} must be one of {options}, got {value!r}')
    return value


def sinusoid_table(length, dims, device=None, dtype=torch.float32):
    """``(length, dims)`` sin/cos encoding of positions ``0..length-1`` (Transformer style)."""
    pos = torch.arange(length, device=device, dtype=torch.float64)[:, None]
    i = torch.arange((dims + 1) // 2, device=device, dtype=torch.float64)
    angle = pos / (10000 ** (2 * i / dims))
    table = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)[:, :dims]
    return table.to(dtype)


class _BlockedWindowAttention(torch.autograd.Function):
    """The attention core of the halo-block path, over ``nb`` query blocks of ``bs x bs``
    queries and their ``win x win`` key windows (``win = bs + k - 1``).

    ``logits = q_s k_w^T + row[qy, qx, ky] + col[qy, qx, kx]``, softmax over the window,
    ``out = P v_w``. ``row`` / ``col`` carry the relative logits and the band mask (a very
    negative value outside each query's own window). The logits are computed and normalised
    in place, and backward works on contiguous blocks with batched GEMMs (autograd through
    the same ops runs a per-matrix fallback on the strided gradients it receives). Under
    autocast it computes in float32, like the other attention functions (:mod:`.custom_ops`).

    Args: ``q (nb, bs^2, d)`` queries or None (no content logits), ``k_w (nb, win^2, d)`` or
    None, ``v_w (nb, win^2, d)``, ``row / col (nb or 1, bs, bs, win)``, ``scale`` of
    ``q . k`` (applied to a temporary, so only the caller's ``q`` is kept for backward).
    Returns ``(nb, bs^2, d)``.
    """

    @staticmethod
    @float32_forward
    def forward(ctx, q, k_w, v_w, row, col, scale):
        nb, win2, d = v_w.shape
        bs, win = row.shape[1], row.shape[3]
        if k_w is not None:
            logits = torch.bmm(q * scale, k_w.transpose(1, 2))
        else:
            logits = v_w.new_zeros(nb, bs * bs, win2)
        lg = logits.view(nb, bs, bs, win, win)
        lg.add_(row.unsqueeze(-1)).add_(col.unsqueeze(-2))
        prob = softmax_nograd_(logits, exact_zeros=False)  # masked entries: finite `band`
        ctx.save_for_backward(q, k_w, v_w, prob)
        ctx.row_shape, ctx.col_shape, ctx.scale = row.shape, col.shape, scale
        return torch.bmm(prob, v_w)

    @staticmethod
    @autocast_backward
    def backward(ctx, grad):
        q, k_w, v_w, prob = ctx.saved_tensors
        nb, win2, d = v_w.shape
        grad = grad.contiguous()
        grad_v = torch.bmm(prob.transpose(1, 2), grad) if ctx.needs_input_grad[2] else None
        ds = torch.bmm(grad, v_w.transpose(1, 2)).mul_(prob)  # P * dP
        ds.addcmul_(prob, ds.sum(-1, keepdim=True), value=-1)  # P * (dP - sum(P * dP))
        grad_q = grad_k = None
        if k_w is not None:
            if ctx.needs_input_grad[0]:
                grad_q = torch.bmm(ds, k_w).mul_(ctx.scale)
            if ctx.needs_input_grad[1]:
                grad_k = torch.bmm(ds.transpose(1, 2), q).mul_(ctx.scale)
        bs, win = ctx.row_shape[1], ctx.row_shape[3]
        ds = ds.view(nb, bs, bs, win, win)
        grad_row = grad_col = None
        if ctx.needs_input_grad[3]:
            grad_row = ds.sum(-1).sum_to_size(ctx.row_shape)
        if ctx.needs_input_grad[4]:
            grad_col = ds.sum(-2).sum_to_size(ctx.col_shape)
        return grad_q, grad_k, grad_v, grad_row, grad_col, None


@MODELS.register_module()
class LocalSelfAttention2d(nn.Module):
    """SASA layer: exact ``k x k`` sliding-window multi-head self-attention on NCHW maps.

    Args:
        in_channels (int): input channels ``d_in``.
        out_channels (int): output channels ``d_out`` (= value and query/key width).
        kernel_size (int): window size ``k`` (odd). Default 7.
        num_heads (int): heads; ``out_channels`` must be divisible by it. Default 8.
        stride (int): 1, or 2 for attention followed by ``2 x 2`` average pooling.
        pos_enc (str): ``'relative'`` (row/column embeddings, default), ``'absolute'`` (fixed
            2D sinusoids of the key's pixel position added to the keys; Table 5) or ``'none'``.
        logits (str): ``'qk_qr'`` (default) or ``'qr'`` (content-position only; the key
            projection is dropped, Table 6). ``'qr'`` needs ``pos_enc='relative'``.
        rel_split (str): ``'per_head'`` or ``'literal'`` (see the module docstring).
        qk_scale (bool | float): scaling of ``q . k``.
        border (str): ``'zero'`` or ``'mask'``.
        impl (str): ``'fast'``, ``'reference'`` or ``'unfold'``.
        block_size (int): query block side of the ``'fast'`` path. Default 4 (measured
            faster than 8 on CPU, with half the logits memory).

    Shape:
        input ``(B, in_channels, H, W)``; output ``(B, out_channels, H', W')`` with
        ``H' = ceil(H / stride)``, ``W' = ceil(W / stride)``.
    """

    def __init__(self, in_channels, out_channels, kernel_size=7, num_heads=8, stride=1,
                 pos_enc='relative', logits='qk_qr', rel_split='per_head', qk_scale=True,
                 border='zero', impl='fast', block_size=4):
        super().__init__()
        if not (isinstance(kernel_size, int) and kernel_size >= 1 and kernel_size % 2 == 1):
            raise ValueError(f'kernel_size (the attention window) must be a positive odd int, '
                             f'got {kernel_size!r}')
        if out_channels % num_heads != 0:
            raise ValueError(f'out_channels={out_channels} is not divisible by '
                             f'num_heads={num_heads}')
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2 (2 = attention then 2x2 average pooling), '
                             f'got {stride!r}')
        self.pos_enc = _choice('pos_enc', pos_enc, POS_ENCODINGS)
        self.logits = _choice('logits', logits, LOGIT_TYPES)
        self.rel_split = _choice('rel_split', rel_split, REL_SPLITS)
        self.border = _choice('border', border, BORDERS)
        self.impl = _choice('impl', impl, LOCAL_ATTENTION_IMPLS)
        if self.logits == 'qr' and self.pos_enc != 'relative':
            raise ValueError("logits='qr' (q.r only) needs pos_enc='relative'")
        self.head_dims = out_channels // num_heads
        if self.pos_enc != 'none':
            if self.rel_split == 'per_head' and self.head_dims % 2:
                raise ValueError(f"rel_split='per_head' needs an even head width, got "
                                 f'{out_channels}/{num_heads}={self.head_dims}')
            if out_channels % 2:
                raise ValueError(f'positional encodings need an even out_channels, got '
                                 f'{out_channels}')
        if not (isinstance(block_size, int) and block_size >= 1):
            raise ValueError(f'block_size must be a positive int, got {block_size!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.num_heads = num_heads
        self.stride = stride
        self.block_size = block_size
        if qk_scale is True:
            self.qk_scale = self.head_dims ** -0.5
        elif qk_scale is False:
            self.qk_scale = 1.0
        else:
            self.qk_scale = float(qk_scale)

        self.q_proj = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.k_proj = (nn.Conv2d(in_channels, out_channels, 1, bias=False)
                       if self.logits == 'qk_qr' else None)
        self.v_proj = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        if self.pos_enc == 'relative':
            # rows: offsets -(k//2)..k//2 of the row (resp. column) displacement a-i (b-j)
            self.rel_row = nn.Parameter(torch.empty(kernel_size, out_channels // 2))
            self.rel_col = nn.Parameter(torch.empty(kernel_size, out_channels // 2))
        else:
            self.register_parameter('rel_row', None)
            self.register_parameter('rel_col', None)
        # where the row / column halves of r live among the out_channels
        half = out_channels // 2
        j = torch.arange(half)
        if self.rel_split == 'per_head':
            hd = self.head_dims // 2
            row_ch = (j // max(hd, 1)) * self.head_dims + j % max(hd, 1)
            col_ch = row_ch + hd
        else:
            row_ch, col_ch = j, j + half
        self.register_buffer('row_channels', row_ch, persistent=False)
        self.register_buffer('col_channels', col_ch, persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        """Fan-in normal projections and ``N(0, d^-1/2)`` embeddings (not stated in the paper)."""
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            if proj is not None:
                nn.init.normal_(proj.weight, std=self.in_channels ** -0.5)
        if self.rel_row is not None:
            nn.init.normal_(self.rel_row, std=self.head_dims ** -0.5)
            nn.init.normal_(self.rel_col, std=self.head_dims ** -0.5)

    def extra_repr(self):
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'num_heads={self.num_heads}, stride={self.stride}, pos_enc={self.pos_enc}, '
                f'logits={self.logits}, rel_split={self.rel_split}, border={self.border}, '
                f'impl={self.impl}')

    # ------------------------------------------------------------------ helpers
    def _to_channels(self, row_table, col_table):
        """Place ``(L, C/2)`` row and column tables into the ``C`` channel layout.

        Returns ``(row (L, C), col (L, C))``, zero outside their channels, so that
        ``q . r_{dy,dx} = q . row[dy] + q . col[dx]`` per head.
        """
        c = self.out_channels
        row = row_table.new_zeros(row_table.shape[0], c).index_copy(1, self.row_channels,
                                                                     row_table)
        col = col_table.new_zeros(col_table.shape[0], c).index_copy(1, self.col_channels,
                                                                     col_table)
        return row, col

    def _heads(self, t):
        """``(B, C, H, W) -> (B, N, d, H, W)``."""
        b, _, h, w = t.shape
        return t.reshape(b, self.num_heads, self.head_dims, h, w)

    def project(self, x):
        """Queries, keys (``None`` for ``logits='qr'``) and values, ``(B, N, d, H, W)`` each;
        keys include the absolute encoding when ``pos_enc='absolute'``."""
        q = self._heads(self.q_proj(x))
        v = self._heads(self.v_proj(x))
        k = None
        if self.k_proj is not None:
            k = self.k_proj(x)
            if self.pos_enc == 'absolute':
                h, w = x.shape[-2:]
                half = self.out_channels // 2
                row, col = self._to_channels(
                    sinusoid_table(h, half, x.device, k.dtype),
                    sinusoid_table(w, half, x.device, k.dtype))
                k = k + row.t()[:, :, None] + col.t()[:, None, :]
            k = self._heads(k)
        return q, k, v

    def relative_logits(self, q):
        """``q . r`` factorised per axis: ``(B, N, k, H, W)`` for rows and for columns."""
        row, col = self._to_channels(self.rel_row, self.rel_col)
        n, d = self.num_heads, self.head_dims
        row = row.view(-1, n, d)
        col = col.view(-1, n, d)
        return (torch.einsum('bndhw,knd->bnkhw', q, row),
                torch.einsum('bndhw,knd->bnkhw', q, col))

    # ------------------------------------------------------------------ forward
    def forward(self, x):
        q, k, v = self.project(x)
        if self.impl == 'fast':
            out = self._forward_blocked(q, k, v)
        elif self.impl == 'reference':
            out = self._forward_offsets(q, k, v)
        else:
            out = self._forward_unfold(q, k, v)
        out = out.reshape(x.shape[0], self.out_channels, *x.shape[-2:])
        if self.stride == 2:
            out = F.avg_pool2d(out, 2, 2, ceil_mode=True)
        return out

    def _forward_offsets(self, q, k, v):
        """Reference: one logit map per window offset, on shifted views of padded K/V."""
        ks, p = self.kernel_size, self.kernel_size // 2
        b, n, d, h, w = q.shape
        pad = [p, p, p, p]
        vp = F.pad(v, pad)
        kp = F.pad(k, pad) if k is not None else None
        if self.pos_enc == 'relative':
            qr_row, qr_col = self.relative_logits(q)
        if self.border == 'mask':
            valid = F.pad(q.new_ones(1, 1, h, w), pad)[0, 0]
        logits = []
        for dy in range(ks):
            for dx in range(ks):
                logit = q.new_zeros(b, n, h, w)
                if kp is not None:
                    logit = logit + (q * kp[..., dy:dy + h, dx:dx + w]).sum(2) * self.qk_scale
                if self.pos_enc == 'relative':
                    logit = logit + qr_row[:, :, dy] + qr_col[:, :, dx]
                if self.border == 'mask':
                    logit = logit.masked_fill(valid[dy:dy + h, dx:dx + w] == 0, float('-inf'))
                logits.append(logit)
        attn = torch.stack(logits, 2).softmax(2)  # (B, N, k^2, H, W)
        record_attention(attn)  # no-op outside capture_attention
        out = 0
        for o in range(ks * ks):
            dy, dx = divmod(o, ks)
            out = out + attn[:, :, o, None] * vp[..., dy:dy + h, dx:dx + w]
        return out

    def _forward_unfold(self, q, k, v):
        """Naive: unfold K and V into ``k^2`` copies, then per-pixel matmuls."""
        ks, p = self.kernel_size, self.kernel_size // 2
        b, n, d, h, w = q.shape
        kk = ks * ks

        def unfold(t):  # (B, N, d, H, W) -> (B, N, HW, k^2, d)
            u = F.unfold(t.reshape(b, n * d, h, w), ks, padding=p)
            return u.view(b, n, d, kk, h * w).permute(0, 1, 4, 3, 2)

        qf = q.flatten(3).transpose(2, 3).unsqueeze(-2)  # (B, N, HW, 1, d)
        logits = 0
        if k is not None:
            logits = (qf @ unfold(k).transpose(-1, -2)).squeeze(-2) * self.qk_scale
        if self.pos_enc == 'relative':
            row, col = self._to_channels(self.rel_row, self.rel_col)
            # r_{dy,dx} = row[dy] + col[dx] (disjoint channels): (N, d, k^2)
            r = (row[:, None] + col[None]).view(kk, n, d).permute(1, 2, 0)
            logits = logits + qf.squeeze(-2) @ r  # (B, N, HW, k^2)
        if self.border == 'mask':
            valid = F.unfold(q.new_ones(1, 1, h, w), ks, padding=p)  # (1, k^2, HW)
            logits = logits.masked_fill(valid.transpose(1, 2)[:, None] == 0, float('-inf'))
        attn = logits.softmax(-1).unsqueeze(-2)  # (B, N, HW, 1, k^2)
        out = (attn @ unfold(v)).squeeze(-2)  # (B, N, HW, d)
        return out.transpose(2, 3)

    def _band_window(self, bs, device):
        """Relative-logit gather indices and band mask of a query block.

        Returns ``off (bs, win)``, the window offset index ``ky - qy`` of window row ``ky`` for
        query row ``qy`` (clamped), and ``outside (bs, win)``, True where the window row is
        not in the query's own ``k x k`` window (the same holds for columns).
        """
        ks, win = self.kernel_size, bs + self.kernel_size - 1
        off = torch.arange(win, device=device)[None, :] - torch.arange(bs, device=device)[:, None]
        return off.clamp(0, ks - 1), (off < 0) | (off >= ks)

    def _forward_blocked(self, q, k, v):
        """Fast exact path: halo blocks with a fixed band mask (see the module docstring).

        Queries, keys and values are laid out with the head width innermost (one copy each),
        so gathering the key/value windows copies contiguous vectors. The band mask and the
        relative logits are added to the logits as one row term and one column term per
        query (two broadcast adds), and the softmax runs in place.
        """
        ks, p = self.kernel_size, self.kernel_size // 2
        b, n, d, h, w = q.shape
        bs = min(self.block_size, max(h, w))
        nh, nw = -(-h // bs), -(-w // bs)
        hp, wp = nh * bs, nw * bs
        win = bs + ks - 1
        nblk = b * n * nh * nw

        def channels_last(t, pad):  # (B, N, d, H, W) -> padded (B, N, H', W', d)
            return F.pad(t.permute(0, 1, 3, 4, 2), [0, 0] + pad)

        def windows(t):  # (B, N, d, H, W) -> (B N nB, win^2, d)
            t = channels_last(t, [p, p + wp - w, p, p + hp - h])
            t = t.unfold(2, win, bs).unfold(3, win, bs)  # B N nh nw d win win
            return t.permute(0, 1, 2, 3, 5, 6, 4).reshape(nblk, win * win, d)

        qb = channels_last(q, [0, wp - w, 0, hp - h]).view(b, n, nh, bs, nw, bs, d)
        qb = qb.permute(0, 1, 2, 4, 3, 5, 6).reshape(nblk, bs * bs, d)
        k_w = windows(k) if k is not None else None
        off, outside = self._band_window(bs, q.device)
        rows, cols = off.view(1, bs, 1, win), off.view(1, 1, bs, win)
        if self.pos_enc == 'relative':
            row, col = self._to_channels(self.rel_row, self.rel_col)
            tables = torch.cat([row, col]).view(2 * ks, n, d).permute(1, 2, 0)  # N d 2ks
            # one (N, B nB bs^2, d) @ (N, d, 2 ks) product: q . r per axis and offset
            qr = qb.view(b, n, -1, d).transpose(0, 1).reshape(n, -1, d) @ tables
            qr = qr.view(n, b, nh * nw, bs * bs, 2 * ks).transpose(0, 1)
            qr = qr.reshape(nblk, bs, bs, 2 * ks)
            # window row ky of query row qy has offset index ky - qy
            t_row = qr[..., :ks].gather(-1, rows.expand(nblk, bs, bs, win))
            t_col = qr[..., ks:].gather(-1, cols.expand(nblk, bs, bs, win))
        else:
            t_row = t_col = q.new_zeros(1, bs, bs, win)
        # Out of the query's window: a finite value (no NaN gradients) more than EXP_FLOOR
        # below every in-window logit, bounded from |q| |k| and the relative terms, so those
        # keys get an exactly negligible weight.
        with torch.no_grad():
            def absmax(t):
                lo, hi = torch.aminmax(t)
                return torch.maximum(-lo, hi)

            bound = absmax(t_row) + absmax(t_col)
            if k is not None:
                bound = bound + abs(self.qk_scale) * d * absmax(qb) * absmax(k)
            band = (-(EXP_FLOOR + 3 * bound)).clamp(min=torch.finfo(q.dtype).min / 8)
        t_row = t_row.masked_fill(outside.view(1, bs, 1, win), band)
        t_col = t_col.masked_fill(outside.view(1, 1, bs, win), band)
        if self.border == 'mask':
            # keys outside the map: excluded through the column / row terms of every query
            valid = F.pad(q.new_ones(h, w, dtype=torch.bool), [p, p + wp - w, p, p + hp - h])
            valid = valid.unfold(0, win, bs).unfold(1, win, bs)  # nh nw win win
            row_ok = valid.any(-1).reshape(1, nh * nw, 1, 1, win)
            col_ok = valid.any(-2).reshape(1, nh * nw, 1, 1, win)
            t_row = t_row.expand(nblk, bs, bs, win).reshape(b * n, nh * nw, bs, bs, win)
            t_col = t_col.expand(nblk, bs, bs, win).reshape(b * n, nh * nw, bs, bs, win)
            t_row = t_row.masked_fill(~row_ok, band).reshape(nblk, bs, bs, win)
            t_col = t_col.masked_fill(~col_ok, band).reshape(nblk, bs, bs, win)
        out = _BlockedWindowAttention.apply(qb if k is not None else None, k_w, windows(v),
                                            t_row, t_col, self.qk_scale)
        out = out.view(b, n, nh, nw, bs, bs, d).permute(0, 1, 6, 2, 4, 3, 5)
        return out.reshape(b, n, d, hp, wp)[..., :h, :w]


@MODELS.register_module()
class SASAConv2d(LocalSelfAttention2d):
    """:class:`LocalSelfAttention2d` with a ``Conv2d``-like signature, so that it can replace a
    3x3 convolution built by ``mmcv.cnn.build_conv_layer`` (e.g. mmdet ResNet's ``dcn`` hook,
    ``dcn=dict(type='SASAConv2d', spatial_extent=7)``).

    ``kernel_size``, ``padding`` and ``dilation`` (what the caller passes for the 3x3 conv) are
    ignored: the window is ``spatial_extent``. ``groups`` must be 1 and ``bias`` False.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=1,
                 dilation=1, groups=1, bias=False, spatial_extent=7, **kwargs):
        if groups != 1 or bias:
            raise ValueError('SASAConv2d replaces a dense bias-free conv: groups must be 1 and '
                             f'bias False, got groups={groups}, bias={bias}')
        if dilation != 1:
            raise ValueError(f'SASAConv2d has no dilation, got dilation={dilation}')
        super().__init__(in_channels, out_channels, kernel_size=spatial_extent, stride=stride,
                         **kwargs)
