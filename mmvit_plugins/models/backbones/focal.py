"""Focal Transformer (Yang et al., "Focal Self-attention for Local-Global Interactions in
Vision Transformers", NeurIPS 2021) as an OpenMMLab backbone.

Each block attends from ``ws x ws`` windows to fine tokens nearby (the window and its rolled
neighbours) and to pooled tokens further away (one pooled level per extra focal level), so
that it sees local detail and global context at a cost close to window attention. The
computation follows the official classification model (microsoft/Focal-Transformer
``classification/focal_transformer.py`` @57bb303) exactly, quirks included, so that converted
official checkpoints give the official outputs: zero padding after ``norm1`` attended without
a mask, the 132 rolled keys in their official order (12 twice), cyclic wrap-around at the
borders of the padded map, -100 masks, the official bias-table layouts.

``attn_impl='fast'`` gathers the keys from one table by precomputed indices
(:mod:`~mmvit_plugins.models.layers.focal_attention`); ``'reference'`` is the literal official
computation (rolls, window partitions, ``unfold``, a materialised attention matrix), the
tests' oracle. The structure (window and expansion per stage) is derived from
``pretrain_img_size`` as the official model derives it from ``img_size``, never from the
input size, so that checkpoints load without missing or new parameters at any input size.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.logging import MMLogger
from mmengine.registry import MODELS

from ..layers.attention import check_attn_impl, multihead_attention
from ..layers.focal_attention import (MASK_VALUE, ROLL_DIRECTIONS, constant_window_mask,
                                      fast_layout, merged_rolled_keys, mixed_relative_index,
                                      pooled_kernel, pooled_slots, rolled_neighbour_offsets,
                                      shift_window_mask, window_partition)
from ..layers.gathered_attention import gathered_attention
from .base import BaseBackbone, drop_path_layer, drop_path_rates


def _to_2tuple(x):
    if isinstance(x, (list, tuple)):
        assert len(x) == 2, f'expected an int or a pair, got {x}'
        return tuple(int(v) for v in x)
    return (int(x), int(x))


def _center_fit(x, size, dim):
    """Centre-crop or centre-zero-pad dim ``dim`` of x to ``size`` (official trim/pad)."""
    cur = x.shape[dim]
    if cur > size:
        return x.narrow(dim, (cur - size) // 2, size)
    if cur < size:
        before = (size - cur) // 2
        pad = [0, 0] * (x.dim() - 1 - dim) + [before, size - cur - before]
        return F.pad(x, pad)
    return x


class FocalPatchEmbed(nn.Module):
    """Stem and stage-end downsampling: (optional GroupNorm) -> conv -> LayerNorm.

    Non-overlapping (k = s = ``stride``) unless ``use_conv_embed`` (7/4/2 for the stem,
    3/2/1 between stages). Inputs whose size is not a multiple of the stride are zero-padded
    right/bottom first (the official model accepts only multiples).

    Args: (B, C_in, H, W) -> (B, H', W', C_out).
    """

    def __init__(self, in_channels, embed_dims, stride, use_conv_embed=False, is_stem=False,
                 patch_norm=True, use_pre_norm=False):
        super().__init__()
        self.stride = stride
        self.use_conv_embed = use_conv_embed
        if use_conv_embed:
            kernel, conv_stride, padding = (7, 4, 2) if is_stem else (3, 2, 1)
            self.proj = nn.Conv2d(in_channels, embed_dims, kernel, conv_stride, padding)
        else:
            self.proj = nn.Conv2d(in_channels, embed_dims, stride, stride)
        self.pre_norm = nn.GroupNorm(1, in_channels) if use_pre_norm and patch_norm else None
        self.norm = nn.LayerNorm(embed_dims) if patch_norm else None

    def forward(self, x):
        if self.pre_norm is not None:
            x = self.pre_norm(x)
        if not self.use_conv_embed:
            h, w = x.shape[-2:]
            pad_h, pad_w = (-h) % self.stride, (-w) % self.stride
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x).permute(0, 2, 3, 1)
        if self.norm is not None:
            x = self.norm(x)
        return x


class Mlp(nn.Module):

    def __init__(self, dims, hidden_dims, drop=0.):
        super().__init__()
        self.fc1 = nn.Linear(dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class FocalWindowAttention(nn.Module):
    """Focal attention of one block over a padded map.

    Args:
        dims (int): channels C.
        num_heads (int): heads nH (C must be divisible by nH).
        window_size (int): query window ws.
        expand_size (int): level-0 neighbour expansion e (0: none).
        focal_level (int): 1 + number of pooled levels.
        focal_window (int): pooled neighbourhood side fw (odd).
        pool_method (str): 'fc' | 'conv' | 'mean' | 'max' | 'none'.
    """

    def __init__(self, dims, num_heads, window_size, expand_size, focal_level, focal_window,
                 pool_method, qkv_bias=True, qk_scale=None, attn_drop=0., proj_drop=0.,
                 attn_impl='fast'):
        super().__init__()
        if dims % num_heads:
            raise ValueError(f'channels {dims} are not divisible by num_heads {num_heads}')
        self.dims, self.num_heads = dims, num_heads
        self.head_dims = dims // num_heads
        self.window_size = window_size
        self.expand_size = expand_size if focal_level > 0 else 0
        self.focal_level = focal_level
        self.focal_window = focal_window
        self.pool_method = pool_method
        self.num_pooled = focal_level - 1 if pool_method != 'none' and focal_level > 1 else 0
        self.scale = qk_scale or self.head_dims**-0.5
        self.attn_drop = attn_drop
        self.attn_impl = check_attn_impl(attn_impl)
        if self.num_pooled and focal_window % 2 == 0:
            raise ValueError(f'focal_window must be odd (the official unfold gives '
                             f'{(focal_window + 1)}^2 keys for {focal_window}), got {focal_window}')
        ws = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * ws - 1)**2, num_heads))
        rel = mixed_relative_index(ws, ws)  # equals the Swin index for K = ws
        self.register_buffer('relative_position_index', rel, persistent=False)
        self.num_rolled = 0
        if self.expand_size > 0:
            self.num_rolled = len(rolled_neighbour_offsets(ws, self.expand_size))
            self.relative_position_bias_table_to_neighbors = nn.Parameter(
                torch.zeros(1, num_heads, ws * ws, self.num_rolled))
        self.pooled_key_sizes = []
        if self.num_pooled:
            self.relative_position_bias_table_to_windows = nn.ParameterList()
            for k in range(self.num_pooled):
                key_size = focal_window + 2**k - 1
                self.pooled_key_sizes.append(key_size)
                self.relative_position_bias_table_to_windows.append(
                    nn.Parameter(torch.zeros(num_heads, (ws + key_size - 1)**2)))
                self.register_buffer(f'relative_position_index_{k}',
                                     mixed_relative_index(ws, key_size), persistent=False)
        self.qkv = nn.Linear(dims, dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(dims, dims)
        self.proj_drop = nn.Dropout(proj_drop)

    @property
    def num_keys(self):
        return self.window_size**2 + self.num_rolled + sum(k * k for k in self.pooled_key_sizes)

    def init_tables(self):
        nn.init.zeros_(self.relative_position_bias_table)
        if self.num_rolled:
            nn.init.trunc_normal_(self.relative_position_bias_table_to_neighbors, std=.02)
        for table in getattr(self, 'relative_position_bias_table_to_windows', []):
            nn.init.trunc_normal_(table, std=.02)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A checkpoint trained with another focal_window: resize the (nH, S*S) pooled-level
        # tables bilinearly as images (the paper's recipe for its detection models).
        for k in range(self.num_pooled):
            key = f'{prefix}relative_position_bias_table_to_windows.{k}'
            own = self.relative_position_bias_table_to_windows[k]
            src = state_dict.get(key)
            if src is None or src.shape == own.shape or src.dim() != 2 \
                    or src.shape[0] != own.shape[0]:
                continue
            s_src, s_dst = math.isqrt(src.shape[1]), math.isqrt(own.shape[1])
            if s_src * s_src != src.shape[1]:
                continue
            resized = F.interpolate(src.float().view(1, -1, s_src, s_src), size=(s_dst, s_dst),
                                    mode='bilinear', align_corners=False)
            state_dict[key] = resized.view(own.shape).to(src.dtype)
            MMLogger.get_current_instance().info(
                f'{key}: resized {s_src}x{s_src} -> {s_dst}x{s_dst} (bilinear) for '
                f'focal_window={self.focal_window}')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def position_bias(self):
        """The window-independent additive bias (nH, ws^2, N) in key order
        [in-window | rolled neighbours | pooled level 0 | ...]."""
        nh, area = self.num_heads, self.window_size**2
        parts = [self.relative_position_bias_table[self.relative_position_index.view(-1)]
                 .view(area, area, nh).permute(2, 0, 1)]
        if self.num_rolled:
            parts.append(self.relative_position_bias_table_to_neighbors[0])
        for k in range(self.num_pooled):
            index = getattr(self, f'relative_position_index_{k}')
            parts.append(self.relative_position_bias_table_to_windows[k][:, index.view(-1)]
                         .view(nh, area, -1))
        return torch.cat(parts, -1)

    def merged_position_bias(self):
        """:meth:`position_bias` with the duplicated rolled keys merged, as the fast path's
        keys are (``merged_rolled_keys``)."""
        bias = self.position_bias()
        if not self.num_rolled:
            return bias
        kept, rounds = merged_rolled_keys(self.window_size, self.expand_size, bias.device)
        level0 = self.window_size**2 + self.num_rolled
        merged = bias[..., :level0].index_select(-1, kept)
        for dup, first in rounds:
            merged = merged.index_copy(-1, first, torch.logaddexp(
                merged.index_select(-1, first), bias.index_select(-1, dup)))
        return torch.cat([merged, bias[..., level0:]], -1)

    def forward(self, x, pooled, shift_size=0):
        """
        Args:
            x (Tensor): padded (and shifted) normed map (B, Hp, Wp, C), Hp, Wp multiples of ws.
            pooled (list[Tensor]): pooled maps (B, nWh * 2^k, nWw * 2^k, C) per pooled level.
            shift_size (int): the map was rolled by ``-shift_size`` (Swin mask on the
                in-window keys); 0: not shifted.

        Returns:
            Tensor: (B, Hp, Wp, C), before ``proj``.
        """
        if self.attn_impl == 'fast':
            return self._forward_fast(x, pooled, shift_size)
        return self._forward_reference(x, pooled, shift_size)

    def _windows_to_map(self, out, b, hp, wp):
        # out: (B * nW, nH, ws^2, hd) -> (B, Hp, Wp, C)
        ws, hd = self.window_size, self.head_dims
        out = out.reshape(b, hp // ws, wp // ws, self.num_heads, ws, ws, hd)
        return out.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, hp, wp, self.dims)

    def _forward_fast(self, x, pooled, shift_size):
        b, hp, wp, c = x.shape
        nh, hd, ws = self.num_heads, self.head_dims, self.window_size
        index, window_mask, chunks = fast_layout(
            hp, wp, ws, self.expand_size, self.focal_window, self.num_pooled, shift_size, nh,
            x.dtype, x.device)
        # split, not sliced: the gradient of two slices would be two zero-filled full-size
        # buffers added together; split's is one concatenation
        q, kv = self.qkv(x).split([c, 2 * c], -1)
        nwh, nww = hp // ws, wp // ws
        # head-major layouts (see gathered_attention)
        q = q.view(b, nwh, ws, nww, ws, nh, hd).permute(0, 5, 1, 3, 2, 4, 6)
        # a copy of its own (reshape may return a view of the split, not scalable in place)
        q = q.clone(memory_format=torch.contiguous_format).view(b, nh, nwh * nww, ws * ws, hd)
        q = q.mul_(self.scale)
        # key/value table [padded map | pooled levels | one zero row (pooled padding)]
        w_kv, b_kv = self.qkv.weight[c:], None if self.qkv.bias is None else self.qkv.bias[c:]
        parts = [kv]
        for p in pooled:  # only k and v of the pooled tokens are used (official q discarded)
            parts.append(F.linear(p, w_kv, b_kv))
        rows = [part.shape[1] * part.shape[2] for part in parts]
        table = x.new_empty(b, nh, sum(rows) + 1, 2, hd)  # filled in place: one pass per part
        start = 0
        for part, n in zip(parts, rows):
            table[:, :, start:start + n] = part.reshape(b, n, 2, nh, hd).permute(0, 3, 1, 2, 4)
            start += n
        table[:, :, start:] = 0
        out = gathered_attention(q, table, index, self.merged_position_bias(), window_mask,
                                 self.attn_drop, self.training,
                                 chunks=chunks)  # (B, nH, nW, ws^2, hd)
        out = out.view(b, nh, nwh, nww, ws, ws, hd)
        return out.permute(0, 2, 4, 3, 5, 1, 6).reshape(b, hp, wp, c)

    def _forward_reference(self, x, pooled, shift_size):
        b, hp, wp, c = x.shape
        nh, hd, ws, e = self.num_heads, self.head_dims, self.window_size, self.expand_size

        def heads(windows):  # (B * nW, T, C) -> (B * nW, nH, T, hd)
            return windows.view(windows.shape[0], windows.shape[1], nh, hd).transpose(1, 2)

        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q_w, k_w, v_w = (heads(window_partition(t, ws)) for t in (q, k, v))
        k_all, v_all = [k_w], [v_w]
        if e > 0:
            keep = []
            for sy, sx in ROLL_DIRECTIONS:
                valid = torch.ones(ws, ws, dtype=torch.bool, device=x.device)
                valid[slice(None, -e) if sy > 0 else slice(e, None),
                      slice(None, -e) if sx > 0 else slice(e, None)] = False
                keep.append(valid.flatten())
            keep = torch.cat(keep).nonzero().view(-1)
            for t, out in ((k, k_all), (v, v_all)):
                rolled = [heads(window_partition(torch.roll(t, (-sy * e, -sx * e), (1, 2)), ws))
                          for sy, sx in ROLL_DIRECTIONS]
                out.append(torch.cat(rolled, 2)[:, :, keep])
        pad_masks = []
        w_kv, b_kv = self.qkv.weight[c:], None if self.qkv.bias is None else self.qkv.bias[c:]
        for lvl, p in enumerate(pooled):
            kernel, stride, padding = pooled_kernel(self.focal_window, lvl)
            ph, pw = p.shape[1:3]
            slots = pooled_slots(self.focal_window, lvl).to(x.device)
            slot_ids = slots[:, 0] * kernel + slots[:, 1]
            ones = x.new_ones(1, 1, ph, pw)
            unfolded = F.unfold(ones, kernel, padding=padding, stride=stride)  # (1, kk, L)
            valid = unfolded[0].t()[:, slot_ids]
            pad_masks.append(torch.zeros_like(valid).masked_fill(valid == 0, MASK_VALUE))
            kv = F.linear(p, w_kv, b_kv).permute(0, 3, 1, 2)  # (B, 2C, ph, pw)
            for t, out in zip(kv.chunk(2, dim=1), (k_all, v_all)):
                cols = F.unfold(t, kernel, padding=padding, stride=stride)  # (B, C*kk, L)
                cols = cols.view(b, c, kernel * kernel, -1).permute(0, 3, 2, 1)
                cols = cols[:, :, slot_ids].reshape(-1, len(slot_ids), nh, hd).transpose(1, 2)
                out.append(cols)
        k_all, v_all = torch.cat(k_all, 2), torch.cat(v_all, 2)
        pad_mask = None
        if pad_masks:
            unpadded = pad_masks[0].new_zeros(  # in-window and rolled keys
                pad_masks[0].shape[0], k_all.shape[2] - sum(m.shape[1] for m in pad_masks))
            pad_mask = torch.cat([unpadded] + pad_masks, 1)
        mask = self.position_bias().unsqueeze(0)  # (1 or B * nW, nH, A, N)
        shift_mask = (shift_window_mask(hp, wp, ws, shift_size, x.device) if shift_size
                      else None)
        window_mask = constant_window_mask(shift_mask, pad_mask, k_all.shape[2], x.dtype)
        if window_mask is not None:
            mask = (mask + window_mask.unsqueeze(1)).repeat(b, 1, 1, 1)
        out = multihead_attention(q_w, k_all, v_all, self.scale, bias=mask, impl='reference',
                                  dropout_p=self.attn_drop, training=self.training)
        return self._windows_to_map(out, b, hp, wp)


class FocalBlock(nn.Module):
    """Focal Transformer block on a (B, H, W, C) map.

    Args:
        window_size, expand_size, shift_size: as decided from the pretraining size.
        focal_level (int), focal_window (int), pool_method (str): pooled levels.
        drop_path_rate (float): stochastic depth of both residual branches.
    """

    def __init__(self, dims, num_heads, window_size=7, expand_size=0, shift_size=0,
                 mlp_ratio=4., qkv_bias=True, qk_scale=None, drop=0., attn_drop=0.,
                 drop_path_rate=0., pool_method='none', focal_level=1, focal_window=1,
                 use_layerscale=False, layerscale_value=1e-4, with_cp=False,
                 attn_impl='fast'):
        super().__init__()
        self.dims = dims
        self.window_size = window_size
        self.shift_size = shift_size
        self.pool_method = pool_method
        self.with_cp = with_cp
        num_pooled = focal_level - 1 if pool_method != 'none' and focal_level > 1 else 0
        self.pool_sizes = [window_size // 2**k for k in range(num_pooled)]
        self.pool_layers = nn.ModuleList()
        for g in self.pool_sizes:
            if pool_method == 'fc':
                self.pool_layers.append(nn.Linear(g * g, 1))
            elif pool_method == 'conv':
                self.pool_layers.append(nn.Conv2d(dims, dims, g, g, groups=dims))
            elif pool_method not in ('mean', 'max'):
                raise ValueError(f"focal_pool must be 'fc', 'conv', 'mean', 'max' or 'none', "
                                 f'got {pool_method!r}')
        self.norm1 = nn.LayerNorm(dims)
        self.attn = FocalWindowAttention(
            dims, num_heads, window_size, expand_size, focal_level, focal_window, pool_method,
            qkv_bias=qkv_bias, qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=drop,
            attn_impl=attn_impl)
        self.norm2 = nn.LayerNorm(dims)
        self.mlp = Mlp(dims, int(dims * mlp_ratio), drop)
        if use_layerscale:
            self.gamma_1 = nn.Parameter(layerscale_value * torch.ones(dims))
            self.gamma_2 = nn.Parameter(layerscale_value * torch.ones(dims))
        else:
            self.gamma_1 = self.gamma_2 = None
        self.drop_path = drop_path_layer(drop_path_rate)

    def _pool(self, x, level):
        """Pool the padded map (B, Hp, Wp, C) into (B, nWh * 2^k, nWw * 2^k, C)."""
        b, hp, wp, c = x.shape
        g = self.pool_sizes[level]
        ph, pw = hp // self.window_size * 2**level, wp // self.window_size * 2**level
        x = _center_fit(_center_fit(x, ph * g, 1), pw * g, 2)
        if self.pool_method == 'conv':
            layer = self.pool_layers[level]
            out = F.conv2d(x.permute(0, 3, 1, 2), layer.weight, layer.bias, stride=g, groups=c)
            return out.permute(0, 2, 3, 1)
        x = x.reshape(b, ph, g, pw, g, c)
        if self.pool_method == 'fc':
            layer = self.pool_layers[level]
            return torch.einsum('bpiqjc,ij->bpqc', x, layer.weight.view(g, g)) + layer.bias
        if self.pool_method == 'mean':
            return x.mean((2, 4))
        return x.amax((2, 4))

    def _attention(self, x):
        b, h, w, c = x.shape
        ws = self.window_size
        y = self.norm1(x)
        hp, wp = h + (-h) % ws, w + (-w) % ws
        if (hp, wp) != (h, w):  # official: zero padding after norm1, never masked
            y = F.pad(y, (0, 0, 0, wp - w, 0, hp - h))
        if self.shift_size:
            y = torch.roll(y, (-self.shift_size, -self.shift_size), (1, 2))
        pooled = [self._pool(y, k) for k in range(len(self.pool_sizes))]
        out = self.attn(y, pooled, self.shift_size)
        if self.shift_size:
            out = torch.roll(out, (self.shift_size, self.shift_size), (1, 2))
        out = self.attn.proj_drop(self.attn.proj(out[:, :h, :w]))
        return out

    def _forward(self, x):
        out = self._attention(x)
        if self.gamma_1 is not None:
            out = self.gamma_1 * out
        x = x + self.drop_path(out)
        out = self.mlp(self.norm2(x))
        if self.gamma_2 is not None:
            out = self.gamma_2 * out
        return x + self.drop_path(out)

    def forward(self, x):
        """(B, H, W, C) -> (B, H, W, C)."""
        if self.with_cp and self.training and torch.is_grad_enabled():
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


class FocalStage(nn.Module):
    """Blocks, then (except in the last stage) the stride-2 ``downsample`` patch embedding."""

    def __init__(self, blocks, downsample=None):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample


@MODELS.register_module()
class FocalTransformer(BaseBackbone):
    """Focal Transformer backbone.

    Args:
        arch (str | dict): 'tiny' | 'small' | 'base' | 'large' (their ``-conv`` variants use
            the overlapping conv embeddings), or a dict with ``embed_dims``, ``depths``,
            ``num_heads`` (and optionally ``use_conv_embed``).
        pretrain_img_size (int | tuple): the size the structure is derived from (the
            official ``img_size``): a stage whose map at this size is not larger than the
            window uses a window equal to the map and no neighbour expansion. Default: 224.
        patch_size (int): stem stride. Default: 4.
        in_channels (int): input channels. Default: 3.
        window_size (int): query window. Default: 7.
        focal_levels (Sequence[int]): per stage, 1 + number of pooled levels. Default:
            (2, 2, 2, 2) as in every released model (the official constructor default is 1).
        focal_windows (Sequence[int]): per stage pooled neighbourhood (odd). Default (7, 5, 3, 1).
        focal_stages (Sequence[int]): stages with pooled levels. Default: all.
        focal_pool (str): 'fc' | 'conv' | 'mean' | 'max' | 'none'. Default: 'fc'.
        expand_sizes (Sequence[int]): level-0 neighbour expansion per stage. Default 3.
        expand_layer (str): 'all' | 'even' | 'odd': blocks that expand ('even' removes the
            expansion of even blocks, as the official code does). Default: 'all'.
        use_conv_embed (bool, optional): overlapping conv embeddings; None takes the arch's.
        use_shift (bool): Swin shift on odd blocks. Default: False.
        use_layerscale (bool), layerscale_value (float): CaiT layer scale.
        use_pre_norm (bool): GroupNorm before the downsampling convs. Default: False.
        mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate: as usual.
        drop_path_rate (float): stochastic depth, linear over all blocks. Default: 0.2.
        patch_norm (bool): LayerNorm after every patch embedding. Default: True.
        out_indices (int | Sequence[int]): stages whose outputs are returned (negatives
            count from the end). Default: (0, 1, 2, 3).
        out_norm (bool): add a LayerNorm ``norm{i}`` per output (the Swin-det convention;
            ``norm3`` is the official classification ``norm``). Default: True.
        frozen_stages (int): -1: none; 0: stem; k: stem + stages 0..k-1 (+ their norms).
        norm_eval (bool), with_cp (bool), pretrained, init_cfg: see ``BaseBackbone``.
        attn_impl (str): 'fast' | 'reference'.

    Shapes: (B, in_channels, H, W) -> tuple of (B, C_i, ceil(H / (4 * 2^i)), ...) per
    out index, C_i = embed_dims * 2^i (exactly H / 2^(i+2) for multiples of 32).
    """
    converter = 'focal'
    # a larger pretrain_img_size adds stage-3 neighbour tables no released checkpoint has
    pretrained_optional_keys = BaseBackbone.pretrained_optional_keys + (
        r'.*relative_position_bias_table_to_neighbors', )
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(embed_dims=96, depths=[2, 2, 6, 2],
                                            num_heads=[3, 6, 12, 24])),
        **dict.fromkeys(['s', 'small'], dict(embed_dims=96, depths=[2, 2, 18, 2],
                                             num_heads=[3, 6, 12, 24])),
        **dict.fromkeys(['b', 'base'], dict(embed_dims=128, depths=[2, 2, 18, 2],
                                            num_heads=[4, 8, 16, 32])),
        # Focal-L was never released; C=192 with Swin-L's layout matches the paper's 240M
        # UPerNet parameter count (spec section 2.5, an inference).
        **dict.fromkeys(['l', 'large'], dict(embed_dims=192, depths=[2, 2, 18, 2],
                                             num_heads=[6, 12, 24, 48])),
    }
    for _name in ('tiny', 'small', 'base', 'large'):
        arch_zoo[f'{_name}-conv'] = dict(arch_zoo[_name], use_conv_embed=True)
    del _name
    arch_keys = ('embed_dims', 'depths', 'num_heads')
    arch_optional_keys = ('use_conv_embed', )

    def __init__(self,
                 arch='tiny',
                 pretrain_img_size=224,
                 patch_size=4,
                 in_channels=3,
                 window_size=7,
                 focal_levels=(2, 2, 2, 2),
                 focal_windows=(7, 5, 3, 1),
                 focal_stages=(0, 1, 2, 3),
                 focal_pool='fc',
                 expand_sizes=(3, 3, 3, 3),
                 expand_layer='all',
                 use_conv_embed=None,
                 use_shift=False,
                 use_layerscale=False,
                 layerscale_value=1e-4,
                 use_pre_norm=False,
                 mlp_ratio=4.,
                 qkv_bias=True,
                 qk_scale=None,
                 drop_rate=0.,
                 attn_drop_rate=0.,
                 drop_path_rate=0.2,
                 patch_norm=True,
                 out_indices=(0, 1, 2, 3),
                 out_norm=True,
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 attn_impl='fast',
                 pretrained=None,
                 init_cfg=None):
        super().__init__(frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp,
                         pretrained=pretrained, init_cfg=init_cfg)
        arch = self.parse_arch(arch)
        self.embed_dims = arch['embed_dims']
        self.depths = list(arch['depths'])
        self.num_heads = list(arch['num_heads'])
        if use_conv_embed is None:
            use_conv_embed = arch.get('use_conv_embed', False)
        self.use_conv_embed = use_conv_embed
        num_stages = len(self.depths)
        per_stage = dict(num_heads=self.num_heads, focal_levels=focal_levels,
                         focal_windows=focal_windows, expand_sizes=expand_sizes)
        for name, values in per_stage.items():
            if len(values) != num_stages:
                raise ValueError(f'{name} has {len(values)} entries but depths has '
                                 f'{num_stages} stages')
        if expand_layer not in ('all', 'even', 'odd'):
            raise ValueError(f"expand_layer must be 'all', 'even' or 'odd', got {expand_layer!r}")
        self.set_stages(num_stages, out_indices)
        self.in_channels = in_channels
        self.out_norm = out_norm
        self.attn_impl = check_attn_impl(attn_impl)
        self.pretrain_img_size = _to_2tuple(pretrain_img_size)
        grid = [s // patch_size for s in self.pretrain_img_size]
        if min(grid) // 2**(num_stages - 1) < 1:
            raise ValueError(f'pretrain_img_size {pretrain_img_size} is too small for '
                             f'{num_stages} stages of patch size {patch_size}')

        self.patch_embed = FocalPatchEmbed(in_channels, self.embed_dims, patch_size,
                                           use_conv_embed, is_stem=True,
                                           patch_norm=patch_norm)
        self.drop_after_pos = nn.Dropout(drop_rate)
        dpr = drop_path_rates(drop_path_rate, self.depths)
        self.stages = nn.ModuleList()
        self.num_features = []
        for i in range(num_stages):
            dims = self.embed_dims * 2**i
            res = (grid[0] // 2**i, grid[1] // 2**i)
            blocks = []
            for j in range(self.depths[i]):
                expand = 0 if (expand_layer == 'even' and j % 2 == 0) or \
                    (expand_layer == 'odd' and j % 2 == 1) else expand_sizes[i]
                shift = window_size // 2 if use_shift and j % 2 == 1 else 0
                ws = window_size
                if min(res) <= window_size:  # the official structure rule (at pretraining)
                    expand, shift, ws = 0, 0, min(res)
                blocks.append(FocalBlock(
                    dims, self.num_heads[i], window_size=ws, expand_size=expand,
                    shift_size=shift, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                    qk_scale=qk_scale, drop=drop_rate, attn_drop=attn_drop_rate,
                    drop_path_rate=dpr[i][j],
                    pool_method=focal_pool if i in focal_stages else 'none',
                    focal_level=focal_levels[i], focal_window=focal_windows[i],
                    use_layerscale=use_layerscale, layerscale_value=layerscale_value,
                    with_cp=with_cp, attn_impl=attn_impl))
            downsample = None
            if i < num_stages - 1:
                downsample = FocalPatchEmbed(dims, 2 * dims, 2, use_conv_embed,
                                             patch_norm=True, use_pre_norm=use_pre_norm)
            self.stages.append(FocalStage(blocks, downsample))
            self.num_features.append(dims)
        if out_norm:
            for i in self.out_indices:
                self.add_module(f'norm{i}', nn.LayerNorm(self.num_features[i]))
        self._freeze_stages()

    # ------------------------------------------------------------------ weights
    def _init_default_weights(self):
        # the official initialisation: Linear trunc_normal(.02) (fc pooling included, as the
        # official apply() overrides the block's mean init), LayerNorm 1/0, in-window tables
        # zero, neighbour and pooled tables trunc_normal(.02); convs keep PyTorch defaults
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, FocalWindowAttention):
                m.init_tables()

    # ------------------------------------------------------------------ forward
    def forward(self, x):
        """(B, C_in, H, W) -> tuple of (B, C_i, H_i, W_i) for i in ``out_indices``."""
        self.check_input(x)
        x = self.drop_after_pos(self.patch_embed(x))  # (B, H, W, C)
        outs = []
        for i, stage in enumerate(self.stages):
            for block in stage.blocks:
                x = block(x)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x) if self.out_norm else x
                outs.append(out.permute(0, 3, 1, 2).contiguous())
            if stage.downsample is not None:
                x = stage.downsample(x.permute(0, 3, 1, 2))
        return tuple(outs)
