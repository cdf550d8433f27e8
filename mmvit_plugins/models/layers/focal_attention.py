"""Index layouts and masks of Focal self-attention (Yang et al., NeurIPS 2021).

Focal attention gives each ``ws x ws`` query window three kinds of keys, in the official key
order: the window's own tokens, the "rolled" level-0 neighbours (four cyclic shifts of the
padded map by ``expand_size``: tl, tr, bl, br; for ws=7, e=3 that is 132 tokens, 12 of them
twice) and, per pooled level, a ``focal_window`` neighbourhood of pooled tokens (neighbours
outside the pooled map are zero keys masked with -100).

The fast path of :class:`~mmvit_plugins.models.backbones.focal.FocalWindowAttention` does not
materialise these keys per window. They are rows of one table
``[padded map | pooled level 0 | pooled level 1 | ... | zero row]``, addressed by an index
built once per padded size and device (:func:`gather_index`, cached, so that forward passes
copy nothing to the device), and
:func:`~mmvit_plugins.models.layers.gathered_attention.gathered_attention` attends over them.
:func:`fast_layout` adds what that call needs:

* the duplicated rolled keys are merged (:func:`merged_rolled_keys`): the same table row in
  every window, so one key with the ``logaddexp`` of the two biases gives the same softmax;
* the constant per-window mask (Swin shift mask plus the -100 pooled padding);
* on CPU, chunks of windows of one window row that leave out the pooled-padding keys they all
  share (a zero key behind -100 has a weight below ``exp(-100)`` of its row's largest, under
  float32 resolution): see :func:`~mmvit_plugins.models.layers.gathered_attention.plan_chunks`.

The index helpers here are also the reference path's definition of the official layout.
"""
from functools import lru_cache

import torch
import torch.nn.functional as F

from .gathered_attention import plan_chunks

# Masks are added as -100 (not -inf), as in the official code.
MASK_VALUE = -100.0
# The four shifted windows of the level-0 expansion, in the official order (tl, tr, bl, br):
# (row sign, column sign) of the token offset, i.e. minus the torch.roll shift.
ROLL_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1))


def rolled_neighbour_offsets(window_size, expand_size):
    """Offsets (dy, dx) of the level-0 neighbour keys relative to the window origin, in the
    official order: for each shifted window tl, tr, bl, br the tokens that fall outside the
    query window, row-major. For ws=7, e=3 there are 132, 12 of them duplicated.

    Returns:
        LongTensor: (N_rolled, 2).
    """
    ws, e = window_size, expand_size
    offsets = []
    for sy, sx in ROLL_DIRECTIONS:
        # the official validity masks: zero on the part of the shifted window that overlaps
        # the query window (same slicing semantics as the official masks)
        keep = torch.ones(ws, ws, dtype=torch.bool)
        rows = slice(None, -e) if sy > 0 else slice(e, None)
        cols = slice(None, -e) if sx > 0 else slice(e, None)
        keep[rows, cols] = False
        r, c = keep.nonzero(as_tuple=True)
        offsets.append(torch.stack([r + sy * e, c + sx * e], 1))
    return torch.cat(offsets, 0)


@lru_cache(maxsize=16)
@torch.compiler.assume_constant_result  # a layout: a constant for torch.compile
def merged_rolled_keys(window_size, expand_size, device=torch.device('cpu')):
    """How the fast path merges the duplicated rolled keys (the same table row for every
    window: 12 of the 132 for ws=7, e=3). Two keys with one key vector and value act as one
    key whose bias is the ``logaddexp`` of theirs: ``exp(s + b1) + exp(s + b2) =
    exp(s + logaddexp(b1, b2))``.

    Returns:
        tuple: ``(kept, rounds)``: LongTensor of the kept level-0 key positions (in-window,
        then the first occurrence of every rolled offset, in order), and a list of
        ``(dup, first)`` LongTensor pairs, one per extra occurrence (second, third, ...), that
        merge position ``dup[i]`` into kept column ``first[i]`` (unique within a pair); on
        ``device`` (cached, so that forward passes copy nothing to it).
    """
    area = window_size**2
    kept, seen, rounds = list(range(area)), {}, []
    for j, off in enumerate(map(tuple, rolled_neighbour_offsets(window_size,
                                                                expand_size).tolist())):
        if off not in seen:
            seen[off] = [len(kept), 0]
            kept.append(area + j)
            continue
        column, count = seen[off]
        if count == len(rounds):
            rounds.append(([], []))
        rounds[count][0].append(area + j)
        rounds[count][1].append(column)
        seen[off][1] += 1
    return torch.tensor(kept, device=device), [
        (torch.tensor(d, device=device), torch.tensor(f, device=device)) for d, f in rounds]


def pooled_kernel(focal_window, level):
    """(kernel, stride, padding) of the official unfold of pooled level ``level``."""
    stride = 2**level
    kernel = 2 * (focal_window // 2) + stride + (stride - 1)
    return kernel, stride, kernel // 2


def pooled_slots(focal_window, level):
    """Kernel slots (a, b) kept by pooled level ``level`` (row-major): all of them for level 0,
    the bottom-right (K x K) part for level > 0, K = focal_window + 2^level - 1."""
    kernel, stride, _ = pooled_kernel(focal_window, level)
    a, b = torch.meshgrid(torch.arange(kernel), torch.arange(kernel), indexing='ij')
    keep = (a >= stride - 1) & (b >= stride - 1)
    return torch.stack([a[keep], b[keep]], 1)


def mixed_relative_index(window_size, key_size):
    """The official ``get_relative_position_index((ws, ws), (K, K))``: query coordinates in
    fine tokens, key coordinates in pooled tokens, index
    ``(yq - yk + K - 1) * (ws + K - 1) + (xq - xk + K - 1)``. Returns (ws^2, K^2)."""
    q = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size),
                                   indexing='ij')).flatten(1)
    k = torch.stack(torch.meshgrid(torch.arange(key_size), torch.arange(key_size),
                                   indexing='ij')).flatten(1)
    rel = q[:, :, None] - k[:, None, :] + (key_size - 1)
    return rel[0] * (window_size + key_size - 1) + rel[1]


@lru_cache(maxsize=128)
@torch.compiler.assume_constant_result  # a layout: a constant for torch.compile
def gather_index(hp, wp, window_size, expand_size, focal_window, num_pooled, device):
    """Index of every key of every window into the source table
    ``[padded map (hp*wp rows) | pooled level 0 | pooled level 1 | ... | zero row]``.

    Returns:
        tuple: ``(index (nW, N) long, pad_mask)``; ``pad_mask`` is ``(nW, N)`` with -100 on
        the keys that point at the zero row (pooled padding), or None if there are none.
    """
    ws = window_size
    nwh, nww = hp // ws, wp // ws
    wy, wx = torch.meshgrid(torch.arange(nwh), torch.arange(nww), indexing='ij')
    wy, wx = wy.reshape(-1, 1), wx.reshape(-1, 1)  # (nW, 1)
    fine = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing='ij'),
                       -1).view(-1, 2)
    if expand_size > 0:
        fine = torch.cat([fine, rolled_neighbour_offsets(ws, expand_size)], 0)
    rows = (wy * ws + fine[:, 0]) % hp  # cyclic, like torch.roll on the padded map
    cols = (wx * ws + fine[:, 1]) % wp
    parts = [rows * wp + cols]
    base = hp * wp
    pooled_sizes = [(nwh * 2**k, nww * 2**k) for k in range(num_pooled)]
    pad_row = base + sum(h * w for h, w in pooled_sizes)
    has_pad = False
    for k, (ph, pw) in enumerate(pooled_sizes):
        _, stride, padding = pooled_kernel(focal_window, k)
        slots = pooled_slots(focal_window, k)
        py = wy * stride - padding + slots[:, 0]
        px = wx * stride - padding + slots[:, 1]
        inside = (py >= 0) & (py < ph) & (px >= 0) & (px < pw)
        has_pad = has_pad or not bool(inside.all())
        parts.append(torch.where(inside, base + py * pw + px, torch.full_like(py, pad_row)))
        base += ph * pw
    index = torch.cat(parts, 1)
    pad_mask = None
    if has_pad:
        pad_mask = torch.zeros(index.shape).masked_fill(index == pad_row, MASK_VALUE)
        pad_mask = pad_mask.to(device)
    return index.to(device), pad_mask


def window_partition(x, window_size):
    """(B, H, W, C) -> (B * nW, ws * ws, C), windows row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, c)


@lru_cache(maxsize=32)
@torch.compiler.assume_constant_result  # a layout: a constant for torch.compile
def shift_window_mask(hp, wp, window_size, shift_size, device):
    """The Swin mask (nW, ws^2, ws^2) of a map rolled by ``-shift_size``: -100 between
    tokens from different regions."""
    ws, s = window_size, shift_size
    img = torch.zeros(1, hp, wp, 1, device=device)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
        for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
            img[:, hs, wsl] = cnt
            cnt += 1
    win = window_partition(img, ws).squeeze(-1)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, MASK_VALUE)


def constant_window_mask(shift_mask, pad_mask, num_keys, dtype):
    """The constant per-window additive mask ``(nW, A or 1, N)``: the Swin shift mask
    ``(nW, A, A)`` on the first A (in-window) keys plus the pooled-padding mask ``(nW, N)``;
    None if there is neither."""
    mask = None if pad_mask is None else pad_mask.to(dtype).unsqueeze(1)
    if shift_mask is not None:
        shift = F.pad(shift_mask, (0, num_keys - shift_mask.shape[-1])).to(dtype)
        mask = shift if mask is None else shift + mask
    return mask


@lru_cache(maxsize=32)
@torch.compiler.assume_constant_result  # a layout: a constant for torch.compile
def fast_layout(hp, wp, window_size, expand_size, focal_window, num_pooled, shift_size,
                num_heads, dtype, device):
    """``(index, window_mask, chunks)`` of the fast path: the keys of :func:`gather_index`
    with the duplicated rolled keys merged (:func:`merged_rolled_keys`), the constant
    per-window mask on them and, on CPU (else None), chunks that group the windows of each
    window row and leave out the pooled-padding keys they share (``plan_chunks``)."""
    index, pad_mask = gather_index(hp, wp, window_size, expand_size, focal_window,
                                   num_pooled, device)
    shift_mask = (shift_window_mask(hp, wp, window_size, shift_size, device) if shift_size
                  else None)
    window_mask = constant_window_mask(shift_mask, pad_mask, index.shape[1], dtype)
    if expand_size > 0:  # one key per duplicated rolled offset (merged_rolled_keys)
        kept, rounds = merged_rolled_keys(window_size, expand_size, device)
        level0 = len(kept) + sum(len(dup) for dup, _ in rounds)  # in-window + rolled keys
        cols = torch.cat([kept, torch.arange(level0, index.shape[1], device=device)])
        index = index.index_select(1, cols)
        pad_mask = None if pad_mask is None else pad_mask.index_select(1, cols)
        window_mask = None if window_mask is None else window_mask.index_select(-1, cols)
    chunks = None
    if device.type == 'cpu':
        chunks = plan_chunks(index, num_heads, window_size**2, window_mask,
                             skippable=None if pad_mask is None else pad_mask < 0,
                             row_length=wp // window_size)
    return index, window_mask, chunks
