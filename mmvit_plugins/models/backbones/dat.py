"""DAT++ backbone: "DAT++: Spatially Dynamic Vision Transformer with Deformable Attention"
(Xia et al., arXiv 2309.01430), for mmdet / mmseg / mmpretrain.

Structure (all maps NCHW)::

    stem (two stride-2 3x3 convs)  ->  stage 0  -> down 0 -> stage 1 -> ... -> stage 3
    block:  x += LPU(x)                                   (3x3 depthwise conv)
            x += DropPath(Attn(LN(x)))                    (N: 7x7 neighbourhood, D: deformable)
            x += DropPath(ConvFFN(LN(x)))                 (1x1 -> +DWConv3x3 -> GELU -> 1x1)

Sub-module names follow the official code (``patch_proj``, ``stages.i.attns.d.*``,
``down_projs``...) so converting an official checkpoint is a renaming of the classifier norm
and head only (:mod:`mmvit_plugins.converters.dat`).

Every layer computes what the official ``LeapLabTHU/DAT@32173fc`` code computes; the fast
path (``attn_impl='fast'``) reorganises the deformable attention (fused SDPA with the
sampled relative-position bias as additive mask, bias recomputed in the backward pass) and
the neighbourhood attention (row blocks recomputed in the backward pass) without changing
the result beyond float rounding.
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.registry import MODELS
from torch.utils.checkpoint import checkpoint

from ..layers.attention import check_attn_impl
from ..layers.neighborhood_attention import NeighborhoodAttention2d
from .base import BaseBackbone, drop_path_rates

__all__ = ['DAT', 'DeformableAttention2d', 'DATStage', 'ConvFFN', 'LayerNorm2d']


# --------------------------------------------------------------------------- small layers
class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW map (the official ``LayerNormProxy``).

    The affine parameters live in ``self.norm`` (keys ``<name>.norm.weight/bias``) as in the
    official checkpoints.
    """

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` applied to NCHW maps (the backbone's output norms ``norm{i}``)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth per sample (each call draws a new mask, like timm's ``DropPath``)."""

    def __init__(self, drop_prob=0.):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x):
        if self.drop_prob == 0. or not self.training:
            return x
        keep = 1 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self):
        return f'drop_prob={self.drop_prob}'


class ConvFFN(nn.Module):
    """DAT++ MLP with a depthwise conv inside (official ``TransformerMLPWithConv``).

    ``h = W1 x; h = GELU(h + DWConv3x3(h)); y = W2 h`` with 1x1 convs ``W1, W2``.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels, mlp_ratio=4, drop=0.):
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.linear1 = nn.Sequential(nn.Conv2d(channels, hidden, 1))
        self.drop1 = nn.Dropout(drop)
        self.dwc = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act = nn.GELU()
        self.linear2 = nn.Sequential(nn.Conv2d(hidden, channels, 1))
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        x = self.drop1(self.linear1(x))
        x = self.act(x + self.dwc(x))
        return self.drop2(self.linear2(x))


# --------------------------------------------------------------------------- deformable attention
def _normalised_grid(length, dtype, device, centres):
    """1-D coordinates in the ``align_corners=True`` convention of ``grid_sample``.

    ``centres=True``: the DAT++ reference points ``linspace(0.5, L-0.5, L) / (L-1) * 2 - 1``
    (the last one lies outside ``[-1, 1]`` and is clamped later, as in the official code);
    ``centres=False``: pixel positions ``arange(L) / (L-1) * 2 - 1``.
    """
    if centres:
        g = torch.linspace(0.5, length - 0.5, length, dtype=dtype, device=device)
    else:
        g = torch.arange(0, length, dtype=dtype, device=device)
    return g.div_(length - 1.0).mul_(2.0).sub_(1.0)


def _grid_2d(h, w, dtype, device, centres):
    """``(h, w, 2)`` grid in (y, x) order."""
    gy = _normalised_grid(h, dtype, device, centres)
    gx = _normalised_grid(w, dtype, device, centres)
    return torch.stack(torch.meshgrid(gy, gx, indexing='ij'), dim=-1)


def sample_rpe_bias(rpe_table, pos, q_hw, num_groups):
    """Relative position bias of DAT++ sampled from ``rpe_table`` at the query-key
    displacements: ``grid_sample(table, 0.5 * (q_grid - pos), bilinear, align_corners=True)``.

    Args:
        rpe_table (Tensor): ``(heads, 2*q_h-1, 2*q_w-1)``.
        pos (Tensor): ``(B*G, Hk, Wk, 2)`` sampling positions in (y, x) order, in [-1, 1].
        q_hw (tuple[int, int]): query map size ``(H, W)``.
        num_groups (int): offset groups ``G`` (heads ``[g*h/G, (g+1)*h/G)`` use group ``g``).

    Returns:
        Tensor: ``(B, heads, H*W, Hk*Wk)``.
    """
    BG = pos.shape[0]
    H, W = q_hw
    heads = rpe_table.shape[0]
    B = BG // num_groups
    table = rpe_table.reshape(1, num_groups, heads // num_groups, *rpe_table.shape[1:])
    table = table.expand(B, -1, -1, -1, -1).reshape(BG, heads // num_groups,
                                                   *rpe_table.shape[1:])
    # Build the displacement directly in (x, y) order: same arithmetic as the official
    # (y, x) tensor followed by [..., (1, 0)], without copying the big tensor.
    q_grid = _grid_2d(H, W, pos.dtype, pos.device, centres=False).flip(-1).reshape(1, H * W, 1, 2)
    pos_xy = pos.flip(-1).reshape(BG, 1, -1, 2)
    disp = (q_grid - pos_xy).mul_(0.5)
    bias = F.grid_sample(table, disp, mode='bilinear', align_corners=True)
    return bias.reshape(B, heads, H * W, -1)


class DeformableAttention2d(nn.Module):
    """Deformable multi-head attention of DAT++ (official ``DAttentionBaseline``).

    Queries are all positions of the map; keys/values are ``Hk x Wk = ceil(H/r) x ceil(W/r)``
    features bilinearly sampled at learnt positions ``clamp(ref + offset, -1, 1)``; offsets
    come from the queries through a shared depthwise conv per group. The logits get a
    relative position bias sampled from ``rpe_table``, whose size is fixed by ``q_size`` (the
    training resolution), so larger maps stretch the same table.

    Args:
        embed_dims (int): channels ``C``.
        num_heads (int): heads (``C / num_heads`` channels each).
        num_groups (int): offset groups ``G`` (``num_heads`` divisible by it).
        stride (int): key sampling stride ``r``.
        offset_kernel_size (int): kernel of the offset depthwise conv.
        q_size (tuple[int, int]): map size the bias table is built for.
        offset_range_factor (float): ``< 0`` (DAT++): unbounded offsets, clamped positions;
            ``>= 0``: ``tanh`` bounded offsets scaled by it, no clamp.
        use_pe (bool): add the relative position bias.
        attn_drop (float), proj_drop (float): dropout rates.
        attn_impl (str): ``'fast'`` (SDPA, lean bias path) or ``'reference'`` (official ops).

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)``, ``H, W >= 2``.
    """

    def __init__(self, embed_dims, num_heads, num_groups, stride, offset_kernel_size,
                 q_size, offset_range_factor=-1, use_pe=True, attn_drop=0., proj_drop=0.,
                 attn_impl='fast'):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        if num_heads % num_groups:
            raise ValueError(f'num_heads ({num_heads}) must be divisible by num_groups '
                             f'({num_groups})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_groups = num_groups
        self.head_dims = embed_dims // num_heads
        self.group_dims = embed_dims // num_groups
        self.scale = self.head_dims ** -0.5
        self.stride = stride
        self.q_size = tuple(q_size)
        self.offset_range_factor = offset_range_factor
        self.use_pe = use_pe
        self.attn_impl = check_attn_impl(attn_impl)
        kk = offset_kernel_size
        pad = kk // 2 if kk != stride else 0
        self.conv_offset = nn.Sequential(
            nn.Conv2d(self.group_dims, self.group_dims, kk, stride, pad,
                      groups=self.group_dims),
            LayerNorm2d(self.group_dims),
            nn.GELU(),
            nn.Conv2d(self.group_dims, 2, 1, bias=False))
        self.proj_q = nn.Conv2d(embed_dims, embed_dims, 1)
        self.proj_k = nn.Conv2d(embed_dims, embed_dims, 1)
        self.proj_v = nn.Conv2d(embed_dims, embed_dims, 1)
        self.proj_out = nn.Conv2d(embed_dims, embed_dims, 1)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)
        if use_pe:
            self.rpe_table = nn.Parameter(
                torch.zeros(num_heads, 2 * self.q_size[0] - 1, 2 * self.q_size[1] - 1))
            nn.init.trunc_normal_(self.rpe_table, std=0.01)
        else:
            self.rpe_table = None

    # ------------------------------------------------------------------ geometry
    def sampling_positions(self, q):
        """Offsets from the projected queries ``q (B, C, H, W)``.

        Returns:
            Tensor: ``(B*G, Hk, Wk, 2)`` positions in (y, x) order.
        """
        B, C, H, W = q.shape
        offset = self.conv_offset(q.reshape(B * self.num_groups, self.group_dims, H, W))
        Hk, Wk = offset.shape[2:]
        if Hk < 2 or Wk < 2 or H < 2 or W < 2:
            raise ValueError(
                f'DAT++ deformable attention needs at least 2x2 queries and keys, got a '
                f'{H}x{W} map ({Hk}x{Wk} keys): the input image must be larger than 32 pixels '
                f'per side')
        if self.offset_range_factor >= 0:
            rng = offset.new_tensor([1.0 / (Hk - 1.0), 1.0 / (Wk - 1.0)]).reshape(1, 2, 1, 1)
            offset = offset.tanh().mul(rng).mul(self.offset_range_factor)
        offset = offset.permute(0, 2, 3, 1)
        ref = _grid_2d(Hk, Wk, q.dtype, q.device, centres=True)
        pos = offset + ref
        if self.offset_range_factor < 0:
            pos = pos.clamp(-1., 1.)
        return pos

    # ------------------------------------------------------------------ forward
    def forward(self, x):
        B, C, H, W = x.shape
        q = self.proj_q(x)
        pos = self.sampling_positions(q)
        Hk, Wk = pos.shape[1:3]
        Ns = Hk * Wk
        x_sampled = F.grid_sample(
            x.reshape(B * self.num_groups, self.group_dims, H, W), pos.flip(-1),
            mode='bilinear', align_corners=True).reshape(B, C, 1, Ns)
        k = self.proj_k(x_sampled)
        v = self.proj_v(x_sampled)
        if self.attn_impl == 'reference':
            out = self._attend_reference(q, k, v, pos, H, W)
        else:
            out = self._attend_fast(q, k, v, pos, H, W)
        return self.proj_drop(self.proj_out(out))

    def _attend_reference(self, q, k, v, pos, H, W):
        """The official op order: einsum, scale, + grid-sampled bias, softmax, einsum."""
        B, C = q.shape[:2]
        hd, nh = self.head_dims, self.num_heads
        Ns = pos.shape[1] * pos.shape[2]
        q = q.reshape(B * nh, hd, H * W)
        k = k.reshape(B * nh, hd, Ns)
        v = v.reshape(B * nh, hd, Ns)
        attn = torch.einsum('bcm,bcn->bmn', q, k).mul(self.scale)
        if self.use_pe:
            G = self.num_groups
            table = self.rpe_table[None].expand(B, -1, -1, -1).reshape(
                B * G, nh // G, *self.rpe_table.shape[1:])
            q_grid = _grid_2d(H, W, q.dtype, q.device, centres=False)
            disp = (q_grid.reshape(1, H * W, 1, 2) - pos.reshape(B * G, 1, Ns, 2)).mul(0.5)
            bias = F.grid_sample(table, disp[..., (1, 0)], mode='bilinear', align_corners=True)
            attn = attn + bias.reshape(B * nh, H * W, Ns)
        attn = self.attn_drop(F.softmax(attn, dim=2))
        out = torch.einsum('bmn,bcn->bcm', attn, v)
        return out.reshape(B, C, H, W)

    def _attend_fast(self, q, k, v, pos, H, W):
        """SDPA with the bias as additive mask; the bias is recomputed in backward."""
        B, C = q.shape[:2]
        hd, nh = self.head_dims, self.num_heads
        q = q.reshape(B, nh, hd, H * W).transpose(-2, -1)
        k = k.reshape(B, nh, hd, -1).transpose(-2, -1)
        v = v.reshape(B, nh, hd, -1).transpose(-2, -1)
        bias = None
        if self.use_pe:
            args = (self.rpe_table, pos, (H, W), self.num_groups)
            if torch.is_grad_enabled() and (self.rpe_table.requires_grad or pos.requires_grad):
                bias = checkpoint(sample_rpe_bias, *args, use_reentrant=False)
            else:
                bias = sample_rpe_bias(*args)
            bias = bias.to(q.dtype)
        p = self.attn_drop.p if self.training else 0.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p,
                                             scale=self.scale)
        return out.transpose(-2, -1).reshape(B, C, H, W)

    # ------------------------------------------------------------------ checkpoints
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Tables trained for another resolution are resized bicubically (official
        # det/seg loader behaviour); a different head count is left to the size check.
        key = prefix + 'rpe_table'
        if self.rpe_table is not None and key in state_dict:
            table = state_dict[key]
            if (table.dim() == 3 and table.shape[0] == self.rpe_table.shape[0]
                    and table.shape[1:] != self.rpe_table.shape[1:]):
                MMLogger.get_current_instance().info(
                    f'{key}: resizing the position-bias table from {tuple(table.shape[1:])} '
                    f'to {tuple(self.rpe_table.shape[1:])} (bicubic)')
                state_dict[key] = F.interpolate(
                    table[None].float(), size=self.rpe_table.shape[1:], mode='bicubic',
                    align_corners=False)[0].to(table.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self):
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'num_groups={self.num_groups}, stride={self.stride}, q_size={self.q_size}, '
                f'attn_impl={self.attn_impl!r}')


# --------------------------------------------------------------------------- stage
class DATStage(nn.Module):
    """One DAT++ stage: a sequence of ``N`` / ``D`` blocks (official ``TransformerStage``).

    Block ``d``: ``x += LPU_d(x)``; ``x += DropPath_d(Attn_d(LN_{2d}(x)))``;
    ``x += DropPath_d(FFN_d(LN_{2d+1}(x)))`` (one drop-path rate serves both residuals).

    Shapes: ``(B, C_in, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, in_channels, embed_dims, block_specs, num_heads, num_groups, stride,
                 offset_kernel_size, nat_kernel_size, q_size, mlp_ratio=4, drop_rate=0.,
                 attn_drop_rate=0., drop_path_rates=(), use_lpu=True, use_conv_ffn=True,
                 offset_range_factor=-1, use_pe=True, attn_impl='fast', with_cp=False):
        super().__init__()
        depth = len(block_specs)
        if len(drop_path_rates) != depth:
            raise ValueError(f'{depth} blocks but {len(drop_path_rates)} drop-path rates')
        if not use_conv_ffn:
            raise NotImplementedError('only the DAT++ ConvFFN (use_conv_ffn=True) is supported')
        self.block_specs = tuple(block_specs)
        self.use_lpu = use_lpu
        self.with_cp = with_cp
        self.proj = (nn.Conv2d(in_channels, embed_dims, 1) if in_channels != embed_dims
                     else nn.Identity())
        self.layer_norms = nn.ModuleList([LayerNorm2d(embed_dims) for _ in range(2 * depth)])
        self.mlps = nn.ModuleList([ConvFFN(embed_dims, mlp_ratio, drop_rate)
                                   for _ in range(depth)])
        self.attns = nn.ModuleList()
        for spec in self.block_specs:
            if spec == 'N':
                self.attns.append(NeighborhoodAttention2d(
                    embed_dims, num_heads, nat_kernel_size, attn_drop_rate, drop_rate,
                    attn_impl=attn_impl))
            elif spec == 'D':
                self.attns.append(DeformableAttention2d(
                    embed_dims, num_heads, num_groups, stride, offset_kernel_size, q_size,
                    offset_range_factor, use_pe, attn_drop_rate, drop_rate,
                    attn_impl=attn_impl))
            else:
                raise ValueError(f"block spec {spec!r} is not supported: DAT++ uses 'N' "
                                 f"(neighbourhood) and 'D' (deformable) blocks")
        self.local_perception_units = nn.ModuleList([
            nn.Conv2d(embed_dims, embed_dims, 3, 1, 1, groups=embed_dims) if use_lpu
            else nn.Identity() for _ in range(depth)])
        self.drop_path = nn.ModuleList([DropPath(r) if r > 0 else nn.Identity()
                                        for r in drop_path_rates])

    def block_forward(self, d, x):
        if self.use_lpu:
            x = x + self.local_perception_units[d](x)
        x = x + self.drop_path[d](self.attns[d](self.layer_norms[2 * d](x)))
        x = x + self.drop_path[d](self.mlps[d](self.layer_norms[2 * d + 1](x)))
        return x

    def forward(self, x):
        x = self.proj(x)
        for d in range(len(self.block_specs)):
            if self.with_cp and self.training and x.requires_grad:
                x = checkpoint(self.block_forward, d, x, use_reentrant=False)
            else:
                x = self.block_forward(d, x)
        return x


# --------------------------------------------------------------------------- backbone
def _default_specs(depths):
    """``[N, D]`` pairs in stages 0-2 and only ``D`` blocks in stage 3 (DAT++)."""
    specs = []
    for i, d in enumerate(depths):
        specs.append(['D'] * d if i == 3 else [('N', 'D')[j % 2] for j in range(d)])
    return specs


@MODELS.register_module()
class DAT(BaseBackbone):
    """DAT++ backbone.

    A PyTorch implementation of `DAT++: Spatially Dynamic Vision Transformer with
    Deformable Attention <https://arxiv.org/abs/2309.01430>`_, equal to the official
    ``LeapLabTHU/DAT`` model (the neighbourhood attention is an exact pure-PyTorch version
    of NATTEN 0.14.6).

    Args:
        arch (str | dict): ``'tiny'``/``'small'``/``'base'`` (``'t'``/``'s'``/``'b'``), or a
            dict with ``embed_dims``, ``depths``, ``num_heads``, ``num_groups`` and optionally
            ``stem_channels``, ``stage_specs``, ``strides``, ``offset_kernel_sizes``,
            ``nat_kernel_sizes``, ``mlp_ratio``, ``use_pes`` / ``use_lpus`` (per-stage
            switches of the deformable position bias / local perception unit, all on).
        img_size (int | tuple): the resolution the deformable position-bias tables are built
            for (224 in every official config, also for detection/segmentation: larger inputs
            stretch the same tables). Inputs of any size larger than 32 pixels work.
        in_channels (int): image channels.
        out_indices (Sequence[int]): stages whose outputs are returned.
        out_norm (bool): add a LayerNorm ``norm{i}`` on every returned stage (the official
            det/seg backbones do; the classifier's final norm is ``norm3``). ``False`` returns
            the raw stage outputs.
        drop_rate (float): dropout after the projections / in the MLPs.
        attn_drop_rate (float): dropout on attention probabilities.
        drop_path_rate (float): stochastic depth, linear over all blocks.
        offset_range_factor (float): ``-1`` (DAT++, unbounded offsets) or a bound factor.
        attn_impl (str): ``'fast'`` or ``'reference'`` (plain official computation).
        frozen_stages (int): ``0`` freezes the stem, ``k`` also stages ``0..k-1`` (with their
            down-projections and output norms); ``-1`` nothing.
        norm_eval (bool): keep BatchNorms in eval mode (DAT++ has none; kept for the API).
        with_cp (bool): activation checkpointing per block while training.
        pretrained (str, optional): deprecated, use ``init_cfg``.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint=PATH)`` with a
            converted checkpoint (``tools/model_converters/dat2mmvit.py``).

    Shapes:
        ``(B, in_channels, H, W) -> tuple`` of ``(B, C_i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2)))``.
    """
    converter_tool = 'tools/model_converters/dat2mmvit.py'

    _dat_pp_common = dict(
        depths=[2, 4, 18, 2],
        stage_specs=[['N', 'D'], ['N', 'D'] * 2, ['N', 'D'] * 9, ['D', 'D']],
        strides=[8, 4, 2, 1], offset_kernel_sizes=[9, 7, 5, 3], nat_kernel_sizes=[7] * 4,
        mlp_ratio=4)
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            stem_channels=64, embed_dims=[64, 128, 256, 512], num_heads=[2, 4, 8, 16],
            num_groups=[1, 2, 4, 8], **_dat_pp_common)),
        **dict.fromkeys(['s', 'small'], dict(
            stem_channels=96, embed_dims=[96, 192, 384, 768], num_heads=[3, 6, 12, 24],
            num_groups=[1, 2, 3, 6], **_dat_pp_common)),
        **dict.fromkeys(['b', 'base'], dict(
            stem_channels=128, embed_dims=[128, 256, 512, 1024], num_heads=[4, 8, 16, 32],
            num_groups=[2, 4, 8, 16], **_dat_pp_common)),
    }
    _required_arch_keys = {'embed_dims', 'depths', 'num_heads', 'num_groups'}
    _optional_arch_keys = {'stem_channels', 'stage_specs', 'strides', 'offset_kernel_sizes',
                           'nat_kernel_sizes', 'mlp_ratio', 'use_pes', 'use_lpus'}
    num_stages = 4

    def __init__(self, arch='tiny', img_size=224, in_channels=3, out_indices=(0, 1, 2, 3),
                 out_norm=True, drop_rate=0., attn_drop_rate=0., drop_path_rate=0.,
                 offset_range_factor=-1, attn_impl='fast', frozen_stages=-1, norm_eval=False,
                 with_cp=False, pretrained=None, init_cfg=None):
        super().__init__(frozen_stages=frozen_stages, norm_eval=norm_eval,
                         pretrained=pretrained, init_cfg=init_cfg)
        self.arch_settings = self._parse_arch(arch)
        a = self.arch_settings
        self.embed_dims = list(a['embed_dims'])
        self.attn_impl = check_attn_impl(attn_impl)
        self.with_cp = with_cp

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        out_indices = list(out_indices)
        for i, idx in enumerate(out_indices):
            if not -self.num_stages <= idx < self.num_stages:
                raise ValueError(f'out_indices {out_indices}: index {idx} is out of range '
                                 f'for {self.num_stages} stages')
            out_indices[i] = idx % self.num_stages
        self.out_indices = tuple(out_indices)
        self.out_norm = out_norm
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages}], '
                             f'got {frozen_stages}')

        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.img_size = img_size
        stem = a['stem_channels']
        # Official stem: two stride-2 3x3 convs (patch size 4).
        self.patch_proj = nn.Sequential(
            nn.Conv2d(in_channels, stem // 2, 3, 2, 1), LayerNorm2d(stem // 2), nn.GELU(),
            nn.Conv2d(stem // 2, stem, 3, 2, 1), LayerNorm2d(stem))

        dprs = drop_path_rates(drop_path_rate, a['depths'])
        fmap = (img_size[0] // 4, img_size[1] // 4)  # bias-table size of stage 0 (official)
        self.stages = nn.ModuleList()
        for i in range(self.num_stages):
            self.stages.append(DATStage(
                stem if i == 0 else self.embed_dims[i], self.embed_dims[i],
                a['stage_specs'][i], a['num_heads'][i], a['num_groups'][i], a['strides'][i],
                a['offset_kernel_sizes'][i], a['nat_kernel_sizes'][i], fmap,
                mlp_ratio=a['mlp_ratio'], drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rates=dprs[i], offset_range_factor=offset_range_factor,
                use_pe=a.get('use_pes', [True] * 4)[i], use_lpu=a.get('use_lpus', [True] * 4)[i],
                attn_impl=attn_impl, with_cp=with_cp))
            fmap = (fmap[0] // 2, fmap[1] // 2)
        self.down_projs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(self.embed_dims[i], self.embed_dims[i + 1], 3, 2, 1,
                                    bias=False), LayerNorm2d(self.embed_dims[i + 1]))
            for i in range(self.num_stages - 1)])
        if out_norm:
            for i in self.out_indices:
                self.add_module(f'norm{i}', ChannelsFirstLayerNorm(self.embed_dims[i]))
        self._freeze_stages()

    # ------------------------------------------------------------------ arch
    @classmethod
    def _parse_arch(cls, arch):
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(f'unknown DAT arch {arch!r}; choose one of '
                                 f'{sorted(set(cls.arch_zoo))} or pass a dict')
            return copy.deepcopy(cls.arch_zoo[key])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or dict, got {type(arch).__name__}')
        missing = cls._required_arch_keys - set(arch)
        if missing:
            raise ValueError(f'custom DAT arch is missing the keys {sorted(missing)} '
                             f'(required: {sorted(cls._required_arch_keys)})')
        unknown = set(arch) - cls._required_arch_keys - cls._optional_arch_keys
        if unknown:
            raise ValueError(f'custom DAT arch has unknown keys {sorted(unknown)}; allowed: '
                             f'{sorted(cls._required_arch_keys | cls._optional_arch_keys)}')
        a = dict(stem_channels=arch['embed_dims'][0], strides=[8, 4, 2, 1],
                 offset_kernel_sizes=[9, 7, 5, 3], nat_kernel_sizes=[7] * 4, mlp_ratio=4,
                 use_pes=[True] * 4, use_lpus=[True] * 4)
        a.update(copy.deepcopy(arch))
        a.setdefault('stage_specs', _default_specs(a['depths']))
        for k in ('embed_dims', 'depths', 'num_heads', 'num_groups', 'stage_specs', 'strides',
                  'offset_kernel_sizes', 'nat_kernel_sizes', 'use_pes', 'use_lpus'):
            if len(a[k]) != cls.num_stages:
                raise ValueError(f'arch[{k!r}] must have {cls.num_stages} entries, '
                                 f'got {a[k]}')
        for i, (spec, depth) in enumerate(zip(a['stage_specs'], a['depths'])):
            if len(spec) != depth:
                raise ValueError(f'stage {i}: stage_specs has {len(spec)} blocks but depths '
                                 f'says {depth}')
        return a

    # ------------------------------------------------------------------ freezing
    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            self._freeze_module(self.patch_proj)
        for i in range(min(self.frozen_stages, self.num_stages)):
            if i > 0:
                self._freeze_module(self.down_projs[i - 1])
            self._freeze_module(self.stages[i])
            self._freeze_module(getattr(self, f'norm{i}', None))

    # ------------------------------------------------------------------ forward
    def forward(self, x):
        H, W = x.shape[-2:]
        if H <= 32 or W <= 32:
            raise ValueError(f'DAT++ needs inputs larger than 32x32 (the last stage must keep '
                             f'at least 2x2 positions for the deformable attention), got '
                             f'{H}x{W}; resize or pad the image')
        x = self.patch_proj(x)
        outs = []
        for i in range(self.num_stages):
            if i > 0:
                x = self.down_projs[i - 1](x)
            x = self.stages[i](x)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x) if self.out_norm else x)
        return tuple(outs)
