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
  windows all lie in a ``(T+K-1)^2`` key region, so each tile is one attention problem over
  its region with an additive bias holding the relative position bias inside each query's
  window and ``-inf`` outside. Interior tiles share one such bias; the border tiles (windows
  shifted inwards) add a few types. The tiles run through
  :func:`~mmvit_plugins.models.layers.gathered_attention.gathered_attention`: chunks of
  tiles, keys gathered from one table per chunk and never stored, the tiles' probabilities
  kept for the backward pass (``_STORE_PROBS``). It computes ``(T+K-1)^2 = 169`` logits per
  query where NA needs 49: the price of dense GEMMs instead of ``1 x d`` products.

No loop runs over pixels: tiles and neighbourhoods are gathered with precomputed indices.
"""
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import check_attn_impl
from .attention_capture import record_attention
from .gathered_attention import gathered_attention

__all__ = ['neighborhood_window_index', 'neighborhood_attention_2d', 'NeighborhoodAttention2d']

# Query tile size of the fast path: each T x T tile attends to its (T+K-1)^2 key region.
_TILE = 7
# Keep the (tiles, 49, 169) probabilities for backward instead of recomputing them: measured
# 13-17 % faster forward+backward on CPU, for ~4 bytes x 169 per query and head (small next
# to the deformable blocks' memory).
_STORE_PROBS = True


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
    record_attention(attn)  # no-op outside capture_attention
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


@lru_cache(maxsize=64)
@torch.compiler.assume_constant_result  # a layout: a constant for torch.compile
def _tiled_layout(height, width, kernel_size, tile, device):
    """Tiles of the gathered formulation, cached per map size.

    Returns:
        tuple: ``query_y (nTy, T)``, ``query_x (nTx, T)`` (query positions of the tiles),
        ``index (nTy * nTx, Ry * Rx)`` (flat key positions of every tile's region),
        ``tile_type (nTy * nTx,)`` (interior tiles all share one type; border tiles, whose
        windows are shifted inwards, add a few) and ``bias_index (types * T^2 * Ry * Rx,)``,
        the entries of the flattened ``(2K-1)^2`` bias table for every (type, query, key),
        pointing one past the table (a ``-inf`` column) outside the query's window.
    """
    qy, ry, ay, rely = _tile_geometry(height, kernel_size, tile, device)
    qx, rx, ax, relx = _tile_geometry(width, kernel_size, tile, device)

    def types(allowed, rel):
        key = torch.cat([allowed.flatten(1).long(), rel.flatten(1)], 1)
        uniq, inverse = torch.unique(key, dim=0, return_inverse=True)
        first = torch.stack([(inverse == t).nonzero()[0, 0] for t in range(len(uniq))])
        return inverse, rel[first], allowed[first]

    type_y, rel_y, allowed_y = types(ay, rely)
    type_x, rel_x, allowed_x = types(ax, relx)
    tile_type = (type_y[:, None] * len(rel_x) + type_x[None, :]).reshape(-1)
    index = (ry[:, None, :, None] * width + rx[None, :, None, :]).reshape(len(qy) * len(qx), -1)
    # (Ty, Tx, T, T, Ry, Rx) entries of the flattened bias table, -inf column outside windows
    side = 2 * kernel_size - 1
    bias_index = rel_y[:, None, :, None, :, None] * side + rel_x[None, :, None, :, None, :]
    allowed = allowed_y[:, None, :, None, :, None] & allowed_x[None, :, None, :, None, :]
    bias_index = bias_index.masked_fill(~allowed, side * side).reshape(-1)
    return qy, qx, index, tile_type, bias_index


def _na_tiled(q, k, v, rpb, kernel_size, tile=None):
    """NA as gathered attention of ``T x T`` query tiles over their ``(T+K-1)^2`` key regions.

    Keys outside a query's window get ``-inf`` in the additive bias, keys inside their
    relative position bias, so the result is exactly NA. The biases of the few tile types
    (interior, and the border tiles whose windows are shifted inwards) are built once per
    call from ``rpb``; :func:`gathered_attention` runs the fused kernels over chunks of tiles
    and returns the gradient of those biases (hence of ``rpb``).
    """
    tile = tile or _TILE
    B, h, H, W, d = q.shape
    qy, qx, index, tile_type, bias_index = _tiled_layout(H, W, kernel_size, tile, q.device)
    T = qy.shape[1]
    # (h, types, T^2, Ry * Rx): bias of every (query, region key) pair of every tile type
    rpb_flat = torch.cat([rpb.flatten(1), rpb.new_full((h, 1), float('-inf'))], 1)
    bias = rpb_flat.index_select(1, bias_index).view(h, -1, T * T, index.shape[1])
    q_t = q[:, :, qy[:, None, :, None], qx[None, :, None, :]]  # (B, h, nTy, nTx, T, T, d)
    q_t = q_t.reshape(B, h, -1, T * T, d)
    table = torch.stack([k, v], -2).view(B, h, H * W, 2, d)
    out = gathered_attention(q_t, table, index, bias, bias_type=tile_type,
                             store_probs=_STORE_PROBS)
    out = out.reshape(B, h, len(qy), len(qx), T, T, d).permute(0, 1, 2, 4, 3, 5, 6)
    return out.reshape(B, h, len(qy) * T, len(qx) * T, d)[:, :, :H, :W]


class NeighborhoodAttention2d(nn.Module):
    """Multi-head 2-D neighbourhood attention on NCHW maps (DAT++ ``N`` block).

    ``qkv``, ``rpb`` and ``proj`` keep the official (NATTEN) names. The table is not named
    like Swin's ``relative_position_bias_table`` on purpose: the official recipe weight-decays
    it (only the deformable tables are exempt), and Swin's ``paramwise_cfg`` keeps doing so.

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
        self.rpb = nn.Parameter(
            torch.zeros(num_heads, 2 * kernel_size - 1, 2 * kernel_size - 1))
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
            out = neighborhood_attention_2d(q, k, v, self.rpb, K,
                                            impl=self.attn_impl)
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
        bias = self.rpb[:, bias_y[:, None, :, None],
                                                bias_x[None, :, None, :]]
        attn = (q.unsqueeze(-2) @ k_nb.transpose(-2, -1)).squeeze(-2) + bias.reshape(h, H, W, KK)
        attn = self.attn_drop(attn.softmax(dim=-1))
        return (attn.unsqueeze(-2) @ v_nb).squeeze(-2)

    def extra_repr(self):
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'kernel_size={self.kernel_size}, attn_impl={self.attn_impl!r}')
