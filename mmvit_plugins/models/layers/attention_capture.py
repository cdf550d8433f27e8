"""Capture of the attention probabilities of the four families, for pictures and checks.

The fast paths never hold the attention matrix. :func:`capture_attention` switches the chosen
attention modules to their reference path (which does) inside a ``with`` block and records,
for every forward call of each of them, the probabilities and the geometry that places them
on the module's feature map::

    with capture_attention(backbone, names=['stages.1.blocks.0.attn']) as records:
        backbone(x)
    views = records[0].query(5, 7)  # what the token at row 5, column 7 attends to

The reference paths call :func:`record_attention` where they hold the probabilities (one
call each, after the softmax); outside a capture that call returns at once.

Captured modules (``kind``) and what an :class:`AttentionRecord` holds: ``probs``, the
tensors recorded during one forward call, and ``geometry``, in tokens of the module's map
(:meth:`AttentionRecord.query` turns both into what one query attends to):

* ``focal`` (``FocalWindowAttention``): one ``(B * nW, nH, ws^2, N)``, the ``ws x ws``
  windows of the padded map with their keys in the official order (window, rolled
  neighbours, pooled levels); ``key_boxes (nW, N, 4)``, the (y0, x0, y1, x1) tokens each key
  covers (a pooled key: its sub-window), ``key_level (N,)`` (0: fine, k + 1: pooled level k)
  and ``key_valid (nW, N)`` (False: pooled padding);
* ``shunted`` (``ShuntedAttention``): one ``(B, h / 2, N, M_g)`` per head group (one
  ``(B, h, N, N)`` when ``sr_ratio = 1``); ``groups``: their heads, token grid and cell side;
* ``deformable`` (DAT++ ``DeformableAttention2d``): one ``(B, nH, H * W, Hk * Wk)``;
  ``positions (B, G, Hk, Wk, 2)``, the (y, x) sampling positions of each offset group, and
  ``reference_points (Hk, Wk, 2)``. Head ``h`` belongs to group ``h // (nH / G)``, whose
  positions give its position bias (its keys mix the features sampled by all groups);
* ``neighborhood`` (DAT++ ``NeighborhoodAttention2d``): one ``(B, nH, H, W, K * K)``;
  ``key_rows (H, K)``, ``key_cols (W, K)``, the window of each row and column;
* ``local`` (SASA ``LocalSelfAttention2d``): one ``(B, nH, k * k, H, W)``; keys outside the
  map are zero keys with ``border='zero'``.
"""
import contextlib
from dataclasses import dataclass, field
from typing import List, Optional

import torch

__all__ = ['record_attention', 'capture_attention', 'AttentionRecord', 'KeyView',
           'attention_kind']

# forward calls of captured modules in progress, innermost last
_ACTIVE = []


def record_attention(probs, **extra):
    """Record ``probs`` (and geometry the module alone knows, e.g. DAT++'s sampling
    positions) for the captured module whose forward is running. Called by the reference
    paths right after their softmax; does nothing outside :func:`capture_attention` or when
    the running module is not captured."""
    if _ACTIVE:
        call = _ACTIVE[-1]
        call.probs.append(probs.detach())
        call.extra.append({k: v.detach() if torch.is_tensor(v) else v for k, v in extra.items()})


def _module_kinds():
    # imported here: the model files import this module
    from ..backbones.focal import FocalWindowAttention
    from ..backbones.shunted import ShuntedAttention
    from .deformable_attention import DeformableAttention2d
    from .local_attention import LocalSelfAttention2d
    from .neighborhood_attention import NeighborhoodAttention2d
    # class -> (kind, name of the implementation switch)
    return {FocalWindowAttention: ('focal', 'attn_impl'),
            ShuntedAttention: ('shunted', 'attn_impl'),
            DeformableAttention2d: ('deformable', 'attn_impl'),
            NeighborhoodAttention2d: ('neighborhood', 'attn_impl'),
            LocalSelfAttention2d: ('local', 'impl')}


def attention_kind(module):
    """``(kind, switch attribute)`` of a capturable attention module, or None."""
    for cls, kind in _module_kinds().items():
        if isinstance(module, cls):
            return kind
    return None


@dataclass
class KeyView:
    """What one query attends to in one part of the keys (a Focal level, a Shunted head
    group, a DAT++ offset group, ...).

    ``weights (h, n)``: the probabilities of the view's ``heads``; keys are placed either by
    ``boxes (n, 4)`` (y0, x0, y1, x1: the map tokens ``[y0, y1) x [x0, x1)`` a key covers,
    which may reach outside the map) or by ``points (n, 2)`` (y, x sampling positions, with
    ``references (n, 2)``, the undeformed points). Coordinates are in map tokens (token
    ``(i, j)`` spans ``[i, i + 1) x [j, j + 1)``; a point at ``y`` is in token ``floor(y + 0.5)``).
    """
    label: str
    heads: List[int]
    weights: torch.Tensor
    boxes: Optional[torch.Tensor] = None
    points: Optional[torch.Tensor] = None
    references: Optional[torch.Tensor] = None


@dataclass
class AttentionRecord:
    """One forward call of a captured attention module (see the module docstring)."""
    name: str
    kind: str
    module: torch.nn.Module
    probs: List[torch.Tensor]
    geometry: dict = field(default_factory=dict)

    @property
    def map_size(self):
        """``(H, W)`` of the map the module attends over (Focal: padded to windows)."""
        return self.geometry['map_size']

    @property
    def num_heads(self):
        return self.module.num_heads

    def query(self, y, x, batch=0):
        """What the query token at ``(y, x)`` of the map attends to: a list of
        :class:`KeyView`."""
        h, w = self.map_size
        if not (0 <= y < h and 0 <= x < w):
            raise ValueError(f'query ({y}, {x}) is outside the {h}x{w} map of {self.name}')
        return _QUERY[self.kind](self, int(y), int(x), batch)


# --------------------------------------------------------------------------- geometry
def _focal_geometry(module, args, kwargs, calls):
    from .focal_attention import gather_index
    x = args[0]
    shift = args[2] if len(args) > 2 else kwargs.get('shift_size', 0)
    hp, wp = x.shape[1:3]
    ws = module.window_size
    index, _ = gather_index(hp, wp, ws, module.expand_size, module.focal_window,
                            module.num_pooled, torch.device('cpu'))
    # decode the rows of [padded map | pooled level 0 | ... | zero row] into token boxes
    boxes = torch.zeros(*index.shape, 4, dtype=torch.long)
    # key columns: [window + rolled neighbours | pooled level 0 slots | level 1 slots | ...]
    level = torch.repeat_interleave(
        torch.arange(module.num_pooled + 1),
        torch.tensor([ws * ws + module.num_rolled] + [s * s for s in module.pooled_key_sizes]))
    fine = index < hp * wp
    r, c = index // wp, index % wp
    boxes[fine] = torch.stack([r, c, r + 1, c + 1], -1)[fine]
    valid = fine.clone()
    base = hp * wp
    for k in range(module.num_pooled):
        g = ws // 2**k  # the block's pooling window of level k (FocalBlock.pool_sizes)
        ph, pw = hp // ws * 2**k, wp // ws * 2**k
        oy, ox = (hp - ph * g) // 2, (wp - pw * g) // 2  # the pooled map is centre-cropped
        inside = (index >= base) & (index < base + ph * pw)
        py, px = (index - base) // pw, (index - base) % pw
        y0, x0 = oy + py * g, ox + px * g
        boxes[inside] = torch.stack([y0, x0, y0 + g, x0 + g], -1)[inside]
        valid |= inside
        base += ph * pw
    if shift:  # the map was rolled by -shift: back to image positions
        boxes = boxes + shift
        boxes[..., 0::2] -= (boxes[..., 0:1] // hp) * hp
        boxes[..., 1::2] -= (boxes[..., 1:2] // wp) * wp
    return dict(map_size=(hp, wp), window_size=ws, shift_size=shift, key_boxes=boxes,
                key_level=level, key_valid=valid,
                pool_sizes=[ws // 2**k for k in range(module.num_pooled)])


def _focal_query(rec, y, x, batch):
    g = rec.geometry
    hp, wp = g['map_size']
    ws, shift = g['window_size'], g['shift_size']
    ry, rx = (y - shift) % hp, (x - shift) % wp  # position in the rolled map
    win = (ry // ws) * (wp // ws) + rx // ws
    num_windows = (hp // ws) * (wp // ws)
    probs = rec.probs[0][batch * num_windows + win, :, (ry % ws) * ws + rx % ws]
    probs = probs.float().cpu()  # (nH, N)
    views = []
    for lvl in range(len(g['pool_sizes']) + 1):
        keep = (g['key_level'] == lvl) & g['key_valid'][win]
        if lvl == 0:
            label = 'level 0: window + neighbours'
        else:
            size = g['pool_sizes'][lvl - 1]
            label = f'level {lvl}: pooled {size}x{size} sub-windows'
        views.append(KeyView(label, list(range(rec.num_heads)), probs[:, keep],
                             boxes=g['key_boxes'][win][keep]))
    return views


def _shunted_geometry(module, args, kwargs, calls):
    hw = tuple(int(v) for v in (args[1] if len(args) > 1 else kwargs['hw']))
    h = module.num_heads
    if module.sr_ratio == 1:
        groups = [dict(heads=list(range(h)), grid=hw, cell=1)]
    else:
        groups = [dict(heads=list(range(i * h // 2, (i + 1) * h // 2)),
                       grid=(hw[0] // r, hw[1] // r), cell=r)  # k = s = r convs: floor
                  for i, r in enumerate((module.sr_ratio, module.sr_ratio // 2))]
    return dict(map_size=hw, groups=groups)


def _grid_boxes(grid, cell):
    gy, gx = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing='ij')
    gy, gx = gy.reshape(-1) * cell, gx.reshape(-1) * cell
    return torch.stack([gy, gx, gy + cell, gx + cell], -1)


def _shunted_query(rec, y, x, batch):
    w = rec.map_size[1]
    views = []
    for probs, group in zip(rec.probs, rec.geometry['groups']):
        heads, cell = group['heads'], group['cell']
        label = (f'heads {heads[0]}-{heads[-1]}: {group["grid"][0]}x{group["grid"][1]} tokens'
                 + (f' of {cell}x{cell}' if cell > 1 else ''))
        views.append(KeyView(label, heads, probs[batch, :, y * w + x].float().cpu(),
                             boxes=_grid_boxes(group['grid'], cell)))
    return views


def _to_tokens(coords, size):
    """``align_corners=True`` coordinates in [-1, 1] -> token coordinates (0 .. size - 1)."""
    return (coords + 1) * 0.5 * (size - 1)


def _deformable_geometry(module, args, kwargs, calls):
    from .deformable_attention import grid_2d
    _, _, h, w = args[0].shape
    pos = calls[0][1]['positions'].float().cpu()  # (B * G, Hk, Wk, 2), (y, x)
    hk, wk = pos.shape[1:3]
    scale = torch.tensor([h, w], dtype=torch.float32)
    positions = _to_tokens(pos, scale).reshape(-1, module.num_groups, hk, wk, 2)
    refs = _to_tokens(grid_2d(hk, wk, torch.float32, torch.device('cpu'), centres=True), scale)
    return dict(map_size=(h, w), key_grid=(hk, wk), positions=positions,
                reference_points=refs)


def _deformable_probs(probs, module, geometry):
    b = probs.shape[0] // module.num_heads
    return probs.reshape(b, module.num_heads, *probs.shape[1:])


def _deformable_query(rec, y, x, batch):
    g, m = rec.geometry, rec.module
    w = g['map_size'][1]
    per_group = m.num_heads // m.num_groups
    probs = rec.probs[0][batch, :, y * w + x].float().cpu()  # (nH, Hk * Wk)
    refs = g['reference_points'].reshape(-1, 2)
    views = []
    for grp in range(m.num_groups):
        heads = list(range(grp * per_group, (grp + 1) * per_group))
        views.append(KeyView(f'offset group {grp}', heads, probs[heads],
                             points=g['positions'][batch, grp].reshape(-1, 2),
                             references=refs))
    return views


def _neighborhood_geometry(module, args, kwargs, calls):
    from .neighborhood_attention import neighborhood_window_index
    h, w = calls[0][0].shape[2:4]  # the map padded to the window, as attended
    k = module.kernel_size
    return dict(map_size=(h, w), kernel_size=k,
                key_rows=neighborhood_window_index(h, k)[0],
                key_cols=neighborhood_window_index(w, k)[0])


def _neighborhood_query(rec, y, x, batch):
    g = rec.geometry
    ky, kx = torch.meshgrid(g['key_rows'][y], g['key_cols'][x], indexing='ij')
    ky, kx = ky.reshape(-1), kx.reshape(-1)
    k = g['kernel_size']
    return [KeyView(f'{k}x{k} neighbourhood', list(range(rec.num_heads)),
                    rec.probs[0][batch, :, y, x].float().cpu(),
                    boxes=torch.stack([ky, kx, ky + 1, kx + 1], -1))]


def _local_geometry(module, args, kwargs, calls):
    h, w = args[0].shape[2:]
    return dict(map_size=(h, w), kernel_size=module.kernel_size, border=module.border)


def _local_query(rec, y, x, batch):
    k = rec.geometry['kernel_size']
    dy, dx = torch.meshgrid(torch.arange(k), torch.arange(k), indexing='ij')
    ky, kx = y + dy.reshape(-1) - k // 2, x + dx.reshape(-1) - k // 2
    return [KeyView(f'{k}x{k} window', list(range(rec.num_heads)),
                    rec.probs[0][batch, :, :, y, x].float().cpu(),
                    boxes=torch.stack([ky, kx, ky + 1, kx + 1], -1))]


_GEOMETRY = dict(focal=_focal_geometry, shunted=_shunted_geometry,
                 deformable=_deformable_geometry, neighborhood=_neighborhood_geometry,
                 local=_local_geometry)
_QUERY = dict(focal=_focal_query, shunted=_shunted_query, deformable=_deformable_query,
              neighborhood=_neighborhood_query, local=_local_query)


# --------------------------------------------------------------------------- capture
class _Call:

    def __init__(self, name, kind, module, args, kwargs):
        self.name, self.kind, self.module = name, kind, module
        self.args, self.kwargs = args, kwargs
        self.probs, self.extra = [], []

    def finish(self):
        calls = list(zip(self.probs, self.extra))
        if not calls:
            raise RuntimeError(f'{self.name}: the reference path of {type(self.module).__name__} '
                               'recorded no attention (does it call record_attention?)')
        geometry = _GEOMETRY[self.kind](self.module, self.args, self.kwargs, calls)
        probs = self.probs
        if self.kind == 'deformable':
            probs = [_deformable_probs(probs[0], self.module, geometry)]
        return AttentionRecord(self.name, self.kind, self.module, probs, geometry)


def _targets(model, names):
    kind = attention_kind(model)
    if kind is not None:
        found = [('', model, kind)]
    else:
        found = [(n, m, attention_kind(m)) for n, m in model.named_modules()]
        found = [t for t in found if t[2] is not None]
    if not found:
        raise ValueError(f'{type(model).__name__} holds no attention module of the four '
                         'families (FocalWindowAttention, ShuntedAttention, '
                         'DeformableAttention2d, NeighborhoodAttention2d, LocalSelfAttention2d)')
    if names is None:
        return found
    by_name = {t[0]: t for t in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f'{missing} are not attention modules of {type(model).__name__}; '
                         f'these are: {list(by_name)[:12]}{" ..." if len(by_name) > 12 else ""}')
    return [by_name[n] for n in names]


@contextlib.contextmanager
def capture_attention(model, names=None):
    """Record the attention of ``model`` (a backbone, any model holding attention modules of
    the four families, or one such module) during the ``with`` block.

    Args:
        model (nn.Module): the model or a single attention module.
        names (Sequence[str], optional): qualified names (``model.named_modules()``) of the
            modules to capture; default all. Only these switch to their reference path
            (which materialises the probabilities: capture few modules of a large input).

    Yields:
        list[AttentionRecord]: filled as the captured modules run, one per forward call.
    """
    targets = _targets(model, names)
    records, handles, saved = [], [], []
    depth = len(_ACTIVE)

    def pre_hook(name, kind):
        def hook(module, args, kwargs):
            _ACTIVE.append(_Call(name, kind, module, args, kwargs))
        return hook

    def post_hook(module, args, kwargs, output):
        records.append(_ACTIVE.pop().finish())

    try:
        for name, module, (kind, switch) in targets:
            saved.append((module, switch, getattr(module, switch)))
            setattr(module, switch, 'reference')
            handles.append(module.register_forward_pre_hook(pre_hook(name, kind),
                                                            with_kwargs=True))
            handles.append(module.register_forward_hook(post_hook, with_kwargs=True))
        yield records
    finally:
        del _ACTIVE[depth:]  # a forward that raised leaves its calls behind
        for handle in handles:
            handle.remove()
        for module, switch, value in saved:
            setattr(module, switch, value)
