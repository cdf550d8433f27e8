"""2-D neighbourhood attention (NA) with relative position bias, in plain PyTorch.

Reproduces the semantics of NATTEN 0.14.6 (``NATTEN2DQKRPBFunction`` /
``NATTEN2DAVFunction``, dilation 1), which current NATTEN releases no longer provide:

* every query attends to exactly ``K x K`` keys; at the borders the window is shifted
  inwards instead of being padded: along an axis of length ``L`` the window of position ``i``
  starts at ``clamp(i - K // 2, 0, L - K)``;
* the bias of key ``(ky, kx)`` for query ``(qy, qx)`` is
  ``rpb[h, ky - qy + K - 1, kx - qx + K - 1]``;
* maps smaller than the window are not supported by the kernel itself (``L >= K`` is
  required); :class:`NeighborhoodAttention2d` zero-pads the *input* of ``qkv`` on the
  right/bottom, as the official DAT++ module does, so padded keys carry the qkv bias and are
  not masked.

Two implementations, selected with ``impl``:

* ``'reference'``: gathers the ``K x K`` neighbourhood of every query at once
  (``(B, heads, H, W, K*K, d)`` for keys and values) and applies the plain formula;
* ``'fast'``: blocked. The map is cut into ``T x T`` query tiles (``T = 7``); a tile's
  windows all lie in a ``(T+K-1)^2`` key region, so each tile is one fused
  ``scaled_dot_product_attention`` call over its region with an additive mask holding the
  relative position bias inside each query's window and ``-inf`` outside. Keys/values are
  copied ``(T+K-1)^2 / T^2 ~ 3.4`` times instead of ``K^2 = 49`` times, and the matmuls run
  in the fused kernel instead of per-pixel ``1 x d`` products.

No loop runs over pixels: tiles and neighbourhoods are gathered with precomputed indices.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import check_attn_impl

__all__ = ['neighborhood_window_index', 'neighborhood_attention_2d', 'NeighborhoodAttention2d']

# Query tile size of the fast path: each T x T tile attends to its (T+K-1)^2 key region.
_TILE = 7


def neighborhood_window_index(length, kernel_size, device=None):
    """Key indices and bias-table indices of every window along one axis.

    Args:
        length (int): map size ``L`` along the axis (``L >= kernel_size``).
        kernel_size (int): odd window size ``K``.

    Returns:
        tuple[Tensor, Tensor]: ``key_index (L, K)`` (the key positions of the window of each
        query position, shifted inwards at the borders) and ``bias_index (L, K)``
        (``key - query + K - 1``, in ``[0, 2K - 2]``).
    """
    if length < kernel_size:
        raise ValueError(f'neighbourhood attention needs a map of at least {kernel_size} '
                         f'positions per axis, got {length}: pad the input first')
    pos = torch.arange(length, device=device)
    start = (pos - kernel_size // 2).clamp(0, length - kernel_size)
    key_index = start[:, None] + torch.arange(kernel_size, device=device)[None]
    bias_index = key_index - pos[:, None] + kernel_size - 1
    return key_index, bias_index


def _na_rows(q, k, v, rpb, rows_y, bias_y, key_x, bias_x):
    """NA for a block of query rows.

    q: (B, h, R, W, d) (already scaled); k, v: (B, h, H, W, d); rpb: (h, 2K-1, 2K-1);
    rows_y/bias_y: (R, K); key_x/bias_x: (W, K). Returns (B, h, R, W, d).
    """
    B, h, R, W, d = q.shape
    K = key_x.shape[1]
    iy = rows_y[:, None, :, None]  # (R, 1, K, 1)
    ix = key_x[None, :, None, :]  # (1, W, 1, K)
    k_nb = k[:, :, iy, ix].reshape(B, h, R, W, K * K, d)
    v_nb = v[:, :, iy, ix].reshape(B, h, R, W, K * K, d)
    bias = rpb[:, bias_y[:, None, :, None], bias_x[None, :, None, :]].reshape(h, R, W, K * K)
    attn = (q.unsqueeze(-2) @ k_nb.transpose(-2, -1)).squeeze(-2) + bias  # (B, h, R, W, K*K)
    attn = attn.softmax(dim=-1)
    return (attn.unsqueeze(-2) @ v_nb).squeeze(-2)


def neighborhood_attention_2d(q, k, v, rpb, kernel_size, impl='fast'):
    """Neighbourhood attention with relative position bias (NATTEN 0.14.6 semantics).

    Args:
        q (Tensor): ``(B, heads, H, W, d)``, already multiplied by the scale.
        k (Tensor): ``(B, heads, H, W, d)``.
        v (Tensor): ``(B, heads, H, W, d)``.
        rpb (Tensor): ``(heads, 2K-1, 2K-1)`` relative position bias table.
        kernel_size (int): odd window size ``K``; ``H, W >= K``.
        impl (str): ``'fast'`` (tiled fused attention) or ``'reference'`` (gathered windows).

    Returns:
        Tensor: ``(B, heads, H, W, d)``.
    """
    check_attn_impl(impl)
    B, h, H, W, d = q.shape
    if kernel_size % 2 != 1:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}')
    expected = (h, 2 * kernel_size - 1, 2 * kernel_size - 1)
    if tuple(rpb.shape) != expected:
        raise ValueError(f'rpb must have shape {expected}, got {tuple(rpb.shape)}')
    key_y, bias_y = neighborhood_window_index(H, kernel_size, q.device)
    key_x, bias_x = neighborhood_window_index(W, kernel_size, q.device)
    if impl == 'reference':
        return _na_rows(q, k, v, rpb, key_y, bias_y, key_x, bias_x)
    return _na_tiled(q, k, v, rpb, kernel_size)


def _tile_geometry(length, kernel_size, tile, device):
    """Query tiles and their key regions along one axis.

    The ``T`` queries of a tile need the keys ``[s, s + T + K - 1)`` at most, with
    ``s = clamp(t*T - K//2, 0, L - (T + K - 1))`` (inward-shifted windows stay inside).

    Returns:
        tuple: ``query (nT, T)`` positions (the last tile repeats the last position),
        ``region (nT, R)`` key positions, ``allowed (nT, T, R)`` (key inside the query's
        window) and ``rel (nT, T, R)`` bias-table indices (clamped where not allowed).
    """
    region_len = min(tile + kernel_size - 1, length)
    n_tiles = -(-length // tile)
    first = torch.arange(n_tiles, device=device) * tile
    query = (first[:, None] + torch.arange(tile, device=device)).clamp(max=length - 1)
    region_start = (first - kernel_size // 2).clamp(0, length - region_len)
    region = region_start[:, None] + torch.arange(region_len, device=device)
    start = (query - kernel_size // 2).clamp(0, length - kernel_size)
    offset = region[:, None, :] - start[:, :, None]
    allowed = (offset >= 0) & (offset < kernel_size)
    rel = (region[:, None, :] - query[:, :, None] + kernel_size - 1).clamp(0, 2 * kernel_size - 2)
    return query, region, allowed, rel


class _MaskedFusedAttention(torch.autograd.Function):
    """``softmax(q k^T + mask) v`` (q pre-scaled) whose additive ``mask`` also gets a gradient.

    PyTorch's fused CPU kernel has no gradient for ``attn_mask`` and falls back to the slow
    unfused path when the mask requires grad. Here the forward and the q/k/v gradients use the
    fused kernel (recomputed in backward), and the mask gradient uses the FlashAttention
    identity ``dS = P * (dO v^T - rowsum(dO * O))``.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask):
        with torch.no_grad():
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
        ctx.save_for_backward(q, k, v, mask, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, mask, out = ctx.saved_tensors
        grads = [None] * 4
        need = ctx.needs_input_grad
        if any(need[:3]):
            with torch.enable_grad():
                ins = [t.detach().requires_grad_(n) for t, n in zip((q, k, v), need[:3])]
                o = F.scaled_dot_product_attention(*ins, attn_mask=mask.detach(), scale=1.0)
                wrt = [t for t in ins if t.requires_grad]
                res = iter(torch.autograd.grad(o, wrt, grad_out))
            grads[:3] = [next(res) if n else None for n in need[:3]]
        if need[3]:
            prob = torch.softmax(q @ k.transpose(-2, -1) + mask, dim=-1)
            d_prob = grad_out @ v.transpose(-2, -1)
            row = (grad_out * out).sum(-1, keepdim=True)
            d_mask = prob.mul_(d_prob.sub_(row))
            # the mask is broadcast over the batch: reduce like autograd would
            if mask.shape[0] == 1 and d_mask.shape[0] != 1:
                d_mask = d_mask.sum(0, keepdim=True)
            grads[3] = d_mask
        return tuple(grads)


def _na_tiled(q, k, v, rpb, kernel_size, tile=None):
    """NA as fused attention over ``T x T`` query tiles and their ``(T+K-1)^2`` key regions.

    Keys outside a query's window get ``-inf`` in the additive mask, keys inside get their
    relative position bias, so the result is exactly NA; the work runs in
    ``scaled_dot_product_attention`` (fused kernels, no stored probabilities).
    """
    tile = tile or _TILE
    B, h, H, W, d = q.shape
    qy, ry, ay, rely = _tile_geometry(H, kernel_size, tile, q.device)
    qx, rx, ax, relx = _tile_geometry(W, kernel_size, tile, q.device)
    nty, T = qy.shape
    ntx = qx.shape[0]
    Ry, Rx = ry.shape[1], rx.shape[1]
    # (h, nty, ntx, T, T, Ry, Rx): bias of every (query, region key) pair of every tile
    bias = rpb[:, rely[:, None, :, None, :, None], relx[None, :, None, :, None, :]]
    allowed = ay[:, None, :, None, :, None] & ax[None, :, None, :, None, :]
    mask = bias.masked_fill(~allowed, float('-inf')).to(q.dtype)
    mask = mask.reshape(1, h * nty * ntx, T * T, Ry * Rx)
    q_t = q[:, :, qy[:, None, :, None], qx[None, :, None, :]].reshape(B, h * nty * ntx, T * T, d)
    k_t = k[:, :, ry[:, None, :, None], rx[None, :, None, :]].reshape(B, h * nty * ntx, Ry * Rx, d)
    v_t = v[:, :, ry[:, None, :, None], rx[None, :, None, :]].reshape(B, h * nty * ntx, Ry * Rx, d)
    out = _MaskedFusedAttention.apply(q_t, k_t, v_t, mask)
    out = out.reshape(B, h, nty, ntx, T, T, d).permute(0, 1, 2, 4, 3, 5, 6)
    return out.reshape(B, h, nty * T, ntx * T, d)[:, :, :H, :W]


class NeighborhoodAttention2d(nn.Module):
    """Multi-head 2-D neighbourhood attention on NCHW maps (DAT++ ``N`` block).

    Parameter names follow the official module (``qkv``, ``rpb``, ``proj``) so that
    official checkpoints load unchanged.

    Args:
        embed_dims (int): channels ``C``.
        num_heads (int): heads; ``C`` must be divisible by it.
        kernel_size (int): odd window size ``K`` (7 in DAT++).
        attn_drop (float): dropout on the attention probabilities (reference path only).
        proj_drop (float): dropout after the output projection.
        attn_impl (str): ``'fast'`` or ``'reference'``.

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)`` for any ``H, W >= 1``.
    """

    def __init__(self, embed_dims, num_heads, kernel_size=7, attn_drop=0., proj_drop=0.,
                 attn_impl='fast'):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be a positive odd number, got {kernel_size}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = self.head_dims ** -0.5
        self.kernel_size = kernel_size
        self.attn_impl = check_attn_impl(attn_impl)
        self.qkv = nn.Linear(embed_dims, embed_dims * 3)
        self.rpb = nn.Parameter(torch.zeros(num_heads, 2 * kernel_size - 1, 2 * kernel_size - 1))
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.rpb, std=.02, a=-2., b=2.)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        B, H0, W0, C = x.shape
        K = self.kernel_size
        # Maps smaller than the window are zero-padded *before* qkv (NATTEN 0.14.6 / DAT++).
        pad_b, pad_r = max(0, K - H0), max(0, K - W0)
        if pad_b or pad_r:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        H, W = H0 + pad_b, W0 + pad_r
        qkv = self.qkv(x).reshape(B, H, W, 3, self.num_heads, self.head_dims)
        q, k, v = qkv.permute(3, 0, 4, 1, 2, 5).unbind(0)  # each (B, heads, H, W, d)
        q = q * self.scale
        if self.attn_drop.p > 0 and self.training:
            out = self._forward_with_dropout(q, k, v)
        else:
            out = neighborhood_attention_2d(q, k, v, self.rpb, K, impl=self.attn_impl)
        out = out.permute(0, 2, 3, 1, 4).reshape(B, H, W, C)[:, :H0, :W0]
        return self.proj_drop(self.proj(out)).permute(0, 3, 1, 2)

    def _forward_with_dropout(self, q, k, v):
        # Dropout on the probabilities: the plain formula, written out here.
        H, W = q.shape[2:4]
        key_y, bias_y = neighborhood_window_index(H, self.kernel_size, q.device)
        key_x, bias_x = neighborhood_window_index(W, self.kernel_size, q.device)
        B, h, _, _, d = q.shape
        KK = self.kernel_size ** 2
        iy, ix = key_y[:, None, :, None], key_x[None, :, None, :]
        k_nb = k[:, :, iy, ix].reshape(B, h, H, W, KK, d)
        v_nb = v[:, :, iy, ix].reshape(B, h, H, W, KK, d)
        bias = self.rpb[:, bias_y[:, None, :, None], bias_x[None, :, None, :]]
        attn = (q.unsqueeze(-2) @ k_nb.transpose(-2, -1)).squeeze(-2) + bias.reshape(h, H, W, KK)
        attn = self.attn_drop(attn.softmax(dim=-1))
        return (attn.unsqueeze(-2) @ v_nb).squeeze(-2)

    def extra_repr(self):
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'kernel_size={self.kernel_size}, attn_impl={self.attn_impl!r}')
