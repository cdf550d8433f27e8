"""Shunted Transformer backbone (Ren et al., "Shunted Self-Attention via Multi-Scale Token
Aggregation", CVPR 2022), re-implemented for OpenMMLab 2.x.

Swin's module names (``patch_embed``, ``stages[i].blocks`` / ``.downsample``, ``norm{i}``);
``mmvit_plugins.converters.shunted`` maps the official ``patch_embed{i}`` / ``block{i}`` /
``norm{i}`` (i = 1..4) to them. Inside the blocks the official names are kept (``attn.sr1``,
``kv1``, ``local_conv1``, ``mlp.dwconv.dwconv`` ...).

Shapes used in the docstrings: ``B`` batch, ``C`` stage width, ``H x W`` the stage's feature
map, ``N = H * W`` tokens.
"""
import math
import warnings

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS

from ..layers.attention import check_attn_impl, multihead_attention
from ..layers.query_chunked_attention import (CPU_QUERY_CHUNK, cpu_query_chunk,
                                              query_chunked_attention)
from .base import BaseBackbone, drop_path_layer, drop_path_rates

#: LayerNorm eps of the stem/downsample norms and of the norms after the token-aggregation
#: convs (nn.LayerNorm's default in the official code); block and output norms use ``norm_eps``.
EMBED_NORM_EPS = 1e-5


def tokens_to_map(x, hw):
    """``(B, N, C)`` tokens -> ``(B, C, H, W)`` map, a channels-last view (no copy): the convs
    on tokens then run in oneDNN's NHWC layout and :func:`map_to_tokens` is a view again."""
    return x.unflatten(1, (hw[0], hw[1])).permute(0, 3, 1, 2)


def map_to_tokens(x):
    """``(B, C, H, W)`` map -> ``(B, H * W, C)`` tokens (a view of a channels-last map)."""
    return x.permute(0, 2, 3, 1).flatten(1, 2)


class ConvStem(nn.Module):
    """The stem ``patch_embed`` (official ``patch_embed1``, a ``Head``): 7x7/2 conv-BN-ReLU,
    ``num_conv`` x (3x3 conv-BN-ReLU), a non-overlapping 2x2/2 conv with bias, then LayerNorm.

    ``(B, 3, H, W)`` -> tokens ``(B, H' * W', C)`` with ``H' = floor(ceil(H / 2) / 2)``.
    """

    def __init__(self, in_channels, embed_dims, num_conv):
        super().__init__()
        layers = [nn.Conv2d(in_channels, embed_dims, 7, 2, padding=3, bias=False),
                  nn.BatchNorm2d(embed_dims), nn.ReLU(inplace=True)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(embed_dims, embed_dims, 3, 1, padding=1, bias=False),
                       nn.BatchNorm2d(embed_dims), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(embed_dims, embed_dims, kernel_size=2, stride=2))
        self.conv = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(embed_dims, eps=EMBED_NORM_EPS)

    def forward(self, x):
        x = self.conv(x)
        hw = x.shape[2:]
        return self.norm(map_to_tokens(x)), (hw[0], hw[1])


class OverlapPatchEmbed(nn.Module):
    """``stages[i].downsample`` (official ``patch_embed{i + 2}``): 3x3/2 conv (padding 1) then
    LayerNorm.

    ``(B, C_in, H, W)`` -> tokens ``(B, ceil(H/2) * ceil(W/2), C_out)``.
    """

    def __init__(self, in_channels, embed_dims):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=3, stride=2, padding=1)
        self.norm = nn.LayerNorm(embed_dims, eps=EMBED_NORM_EPS)

    def forward(self, x):
        x = self.proj(x)
        hw = x.shape[2:]
        return self.norm(map_to_tokens(x)), (hw[0], hw[1])


class ShuntedAttention(nn.Module):
    """Shunted self-attention.

    With ``sr_ratio = r > 1`` the heads are split in two equal groups: group 1 attends to
    tokens aggregated by a ``k = s = r`` conv, group 2 to tokens aggregated by a
    ``k = s = r / 2`` conv (each conv -> LayerNorm -> GELU). A depth-wise 3x3 conv on V at the
    aggregated resolution ("local enhancement") is added to V before the attention.
    With ``sr_ratio = 1`` all heads attend to all tokens and the local enhancement of V at full
    resolution is added to the attention output instead (the official last stage).

    Args:
        dim (int): channels ``C``.
        num_heads (int): heads (even when ``sr_ratio > 1``).
        sr_ratio (int): token aggregation ratio ``r`` (1 or an even number; the official
            models use 8, 4, 2, 1).
        qkv_bias (bool): bias of the q/kv projections.
        qk_scale (float, optional): logit scale; ``head_dim ** -0.5`` when None.
        attn_drop (float): dropout on the attention weights.
        proj_drop (float): dropout after the output projection.
        attn_impl (str): ``'fast'`` (fused ``scaled_dot_product_attention``) or
            ``'reference'`` (explicit attention matrix, as the official code).
    """

    def __init__(self, dim, num_heads, sr_ratio=1, qkv_bias=True, qk_scale=None,
                 attn_drop=0., proj_drop=0., attn_impl='fast'):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} must be divisible by num_heads {num_heads}')
        if sr_ratio < 1 or (sr_ratio > 1 and sr_ratio % 2):
            raise ValueError(f'sr_ratio must be 1 or even (official: 8, 4, 2, 1), got {sr_ratio}')
        if sr_ratio > 1 and num_heads % 2:
            raise ValueError(f'num_heads must be even to split the heads into two groups when '
                             f'sr_ratio > 1, got num_heads={num_heads} with sr_ratio={sr_ratio}')
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim**-0.5
        self.sr_ratio = sr_ratio
        self.attn_drop_rate = attn_drop
        self.attn_impl = check_attn_impl(attn_impl)
        self.cpu_query_chunk = CPU_QUERY_CHUNK

        # Registration order matches the official state dict.
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        if sr_ratio > 1:
            half = dim // 2
            self.act = nn.GELU()
            self.sr1 = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm1 = nn.LayerNorm(dim, eps=EMBED_NORM_EPS)
            self.sr2 = nn.Conv2d(dim, dim, kernel_size=sr_ratio // 2, stride=sr_ratio // 2)
            self.norm2 = nn.LayerNorm(dim, eps=EMBED_NORM_EPS)
            # kv rows [0, C/2) give K, rows [C/2, C) give V, both head-major.
            self.kv1 = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv2 = nn.Linear(dim, dim, bias=qkv_bias)
            self.local_conv1 = nn.Conv2d(half, half, 3, padding=1, groups=half)
            self.local_conv2 = nn.Conv2d(half, half, 3, padding=1, groups=half)
        else:
            self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
            self.local_conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def _split_heads(self, x, num_heads):
        """``(B, M, h * d)`` -> ``(B, h, M, d)``."""
        B, M, _ = x.shape
        return x.view(B, M, num_heads, self.head_dim).transpose(1, 2)

    def _attend(self, q, k, v):
        """``q (B, h, N, d)``, ``k/v (B, h, M, d)`` -> ``(B, N, h * d)``."""
        B, h, N, d = q.shape
        if self.attn_impl == 'fast' and q.device.type == 'cpu' and N > self.cpu_query_chunk:
            # few heads, many queries: see layers/query_chunked_attention.py
            out = query_chunked_attention(q, k, v, self.scale,
                                          self.attn_drop_rate if self.training else 0.,
                                          chunk=cpu_query_chunk(N, self.cpu_query_chunk))
        else:
            out = multihead_attention(q, k, v, self.scale, impl=self.attn_impl,
                                      dropout_p=self.attn_drop_rate, training=self.training)
        return out.transpose(1, 2).reshape(B, N, h * d)

    def _aggregated_group(self, q, x_map, sr, norm, kv, local_conv):
        """One head group over aggregated tokens.

        Args:
            q (Tensor): ``(B, h/2, N, d)`` the group's queries.
            x_map (Tensor): ``(B, C, H, W)`` block input.
        Returns:
            Tensor: ``(B, N, C/2)``.
        """
        agg = sr(x_map)                                   # (B, C, H/s, W/s), floor
        agg_hw = agg.shape[2:]
        agg = self.act(norm(map_to_tokens(agg)))          # (B, M, C)
        k, v = kv(agg).chunk(2, dim=-1)                   # (B, M, C/2) each
        v = v + map_to_tokens(local_conv(tokens_to_map(v, agg_hw)))
        half_heads = self.num_heads // 2
        return self._attend(q, self._split_heads(k, half_heads), self._split_heads(v, half_heads))

    def forward(self, x, hw):
        """``x (B, N, C)`` with ``N = H * W``, ``hw = (H, W)`` -> ``(B, N, C)``."""
        q = self._split_heads(self.q(x), self.num_heads)  # (B, h, N, d)
        if self.sr_ratio > 1:
            x_map = tokens_to_map(x, hw)
            half_heads = self.num_heads // 2
            out = torch.cat([
                self._aggregated_group(q[:, :half_heads], x_map, self.sr1, self.norm1,
                                       self.kv1, self.local_conv1),
                self._aggregated_group(q[:, half_heads:], x_map, self.sr2, self.norm2,
                                       self.kv2, self.local_conv2)], dim=-1)
        else:
            k, v = self.kv(x).chunk(2, dim=-1)            # (B, N, C) each
            out = self._attend(q, self._split_heads(k, self.num_heads),
                               self._split_heads(v, self.num_heads))
            out = out + map_to_tokens(self.local_conv(tokens_to_map(v, hw)))
        return self.proj_drop(self.proj(out))


class TokenDWConv(nn.Module):
    """Depth-wise 3x3 conv on tokens: ``(B, N, C)`` -> ``(B, N, C)`` (``self.dwconv`` keeps the
    official ``mlp.dwconv.dwconv`` key)."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x, hw):
        return map_to_tokens(self.dwconv(tokens_to_map(x, hw)))


class DetailSpecificFFN(nn.Module):
    """``fc1 -> h + DWConv3x3(h) -> GELU -> fc2`` (the inner residual comes before the
    activation). ``(B, N, C)`` -> ``(B, N, C)``."""

    def __init__(self, dim, hidden_dim, drop=0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = TokenDWConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x, hw):
        x = self.fc1(x)
        x = self.drop(self.act(x + self.dwconv(x, hw)))
        return self.drop(self.fc2(x))


class ShuntedBlock(nn.Module):
    """Pre-norm block: ``x + DropPath(SSA(LN(x)))``, then ``x + DropPath(FFN(LN(x)))``.
    ``(B, N, C)`` -> ``(B, N, C)``."""

    def __init__(self, dim, num_heads, mlp_ratio, sr_ratio, qkv_bias=True, qk_scale=None,
                 drop=0., attn_drop=0., drop_path=0., norm_eps=1e-6, attn_impl='fast',
                 with_cp=False):
        super().__init__()
        self.with_cp = with_cp
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = ShuntedAttention(dim, num_heads, sr_ratio, qkv_bias=qkv_bias,
                                     qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=drop,
                                     attn_impl=attn_impl)
        self.drop_path = drop_path_layer(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = DetailSpecificFFN(dim, int(dim * mlp_ratio), drop=drop)

    def _inner_forward(self, x, hw):
        x = x + self.drop_path(self.attn(self.norm1(x), hw))
        return x + self.drop_path(self.mlp(self.norm2(x), hw))

    def forward(self, x, hw):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, hw, use_reentrant=False)
        return self._inner_forward(x, hw)


class ShuntedStage(nn.Module):
    """The blocks of one stage and, except in the last stage, the ``downsample`` (an
    :class:`OverlapPatchEmbed`) that produces the next stage's tokens.

    The backbone's output norm ``norm{i}`` sits between the two (the normalised map feeds the
    downsample, as in the official code), so :meth:`forward` runs the blocks only and the
    backbone calls ``downsample`` after the norm.
    """

    def __init__(self, dim, depth, num_heads, mlp_ratio, sr_ratio, drop_path_rates,
                 downsample_dims=None, **block_kwargs):
        super().__init__()
        self.blocks = nn.ModuleList([
            ShuntedBlock(dim, num_heads, mlp_ratio, sr_ratio, drop_path=drop_path_rates[j],
                         **block_kwargs) for j in range(depth)])
        self.downsample = (OverlapPatchEmbed(dim, downsample_dims)
                           if downsample_dims is not None else None)

    def forward(self, x, hw):
        """``x (B, N, C)`` tokens of an ``hw = (H, W)`` map -> ``(B, N, C)``."""
        for block in self.blocks:
            x = block(x, hw)
        return x


@MODELS.register_module()
class ShuntedTransformer(BaseBackbone):
    """Shunted Transformer backbone.

    ``patch_embed`` (the conv stem) -> for each stage ``i``: ``stages[i].blocks`` ->
    ``norm{i}`` (output ``i``, a ``(B, C_i, H_i, W_i)`` map) -> ``stages[i].downsample``
    (3x3/2 conv + LayerNorm, absent in the last stage).

    Args:
        arch (str | dict): ``'tiny'``/``'t'``, ``'small'``/``'s'``, ``'base'``/``'b'`` or a dict
            with keys ``embed_dims``, ``depths``, ``num_heads``, ``mlp_ratios``, ``sr_ratios``
            (4 entries each) and ``num_conv`` (extra 3x3 convs in the stem).
        in_channels (int): input channels.
        qkv_bias (bool): bias of the q/kv projections.
        qk_scale (float, optional): attention logit scale (default ``head_dim ** -0.5``).
        drop_rate (float): dropout in the FFN and after the attention projection.
        attn_drop_rate (float): dropout on the attention weights.
        drop_path_rate (float): stochastic depth, linear over all blocks from 0.
        norm_eps (float): eps of the block and output LayerNorms (1e-6 in the official
            T/S/B models; the official constructor's default ``nn.LayerNorm`` has 1e-5).
        out_indices (int | Sequence[int]): stages whose normalised maps are returned.
        frozen_stages (int): -1 none; 0 the stem (``patch_embed``); k also ``stages[0..k-1]``
            (with their downsamples) and ``norm0..norm{k-1}``.
        norm_eval (bool): keep the stem BatchNorms in eval mode during training.
        with_cp (bool): activation checkpointing per block.
        attn_impl (str): ``'fast'`` (fused SDPA) or ``'reference'`` (explicit attention matrix).
        pretrained (str, optional): deprecated, use ``init_cfg``.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint=...)``; takes
            converted checkpoints (``tools/model_converters/shunted2mmvit.py``) and official
            ones (``{'model': ...}`` or raw), whose keys are mapped on loading.

    Inputs ``(B, in_channels, H, W)`` of any size with ``H, W >= 32``; output ``i`` is
    ``(B, embed_dims[i], H_i, W_i)`` at strides 4, 8, 16, 32 (the stem gives
    ``floor(ceil(H / 2) / 2)``, each later stage ``ceil(H_prev / 2)``). Stages after
    ``max(out_indices)`` are not run (their parameters get no gradient).
    """
    converter = 'shunted'
    arch_keys = ('embed_dims', 'depths', 'num_heads', 'mlp_ratios', 'sr_ratios', 'num_conv')
    _common = dict(embed_dims=[64, 128, 256, 512], num_heads=[2, 4, 8, 16],
                   mlp_ratios=[8, 8, 4, 4], sr_ratios=[8, 4, 2, 1])
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(_common, depths=[1, 2, 4, 1], num_conv=0)),
        **dict.fromkeys(['s', 'small'], dict(_common, depths=[2, 4, 12, 1], num_conv=1)),
        **dict.fromkeys(['b', 'base'], dict(_common, depths=[3, 4, 24, 2], num_conv=2)),
    }

    def __init__(self,
                 arch='tiny',
                 in_channels=3,
                 qkv_bias=True,
                 qk_scale=None,
                 drop_rate=0.,
                 attn_drop_rate=0.,
                 drop_path_rate=0.1,
                 norm_eps=1e-6,
                 out_indices=(0, 1, 2, 3),
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 attn_impl='fast',
                 pretrained=None,
                 init_cfg=None):
        super().__init__(frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp,
                         pretrained=pretrained, init_cfg=init_cfg)
        arch = self.parse_arch(arch)
        for key in self.arch_keys[:-1]:
            if len(arch[key]) != 4:
                raise ValueError(f'arch[{key!r}] needs 4 entries (one per stage), '
                                 f'got {arch[key]}')
        self.arch_settings = arch
        self.set_stages(4, out_indices)
        self.in_channels = in_channels
        self.embed_dims = arch['embed_dims']
        self.depths = arch['depths']
        self.sr_ratios = arch['sr_ratios']
        self.num_features = list(self.embed_dims)
        self.attn_impl = check_attn_impl(attn_impl)

        self.patch_embed = ConvStem(in_channels, self.embed_dims[0], arch['num_conv'])
        rates = drop_path_rates(drop_path_rate, self.depths)
        self.stages = nn.ModuleList()
        for i in range(self.num_stages):
            last = i == self.num_stages - 1
            self.stages.append(ShuntedStage(
                self.embed_dims[i], self.depths[i], arch['num_heads'][i],
                arch['mlp_ratios'][i], self.sr_ratios[i], rates[i],
                downsample_dims=None if last else self.embed_dims[i + 1],
                qkv_bias=qkv_bias, qk_scale=qk_scale, drop=drop_rate,
                attn_drop=attn_drop_rate, norm_eps=norm_eps, attn_impl=attn_impl,
                with_cp=with_cp))
        # every output norm exists, used or not: norm{i} feeds stage i's downsample
        for i in range(self.num_stages):
            self.add_module(f'norm{i}', nn.LayerNorm(self.embed_dims[i], eps=norm_eps))
        self._freeze_stages()

    def _init_default_weights(self):
        """The official from-scratch init: trunc-normal(0.02) linears, unit LayerNorms,
        fan-out normal convs, zero biases; BatchNorms keep the torch defaults."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _check_input_size(self, hw):
        h, w = (-(-hw[0] // 2)) // 2, (-(-hw[1] // 2)) // 2   # stem: ceil(/2), floor(/2)
        for i in range(max(self.out_indices) + 1):
            if i:
                h, w = -(-h // 2), -(-w // 2)
            r = self.sr_ratios[i]
            if min(h, w) < r:
                raise ValueError(
                    f'input {hw[0]}x{hw[1]} is too small for ShuntedTransformer: stage {i} has a '
                    f'{h}x{w} feature map, smaller than its token aggregation ratio {r}; '
                    f'use inputs of at least 32x32 pixels (resize or pad the image)')

    def forward(self, x):
        """``(B, in_channels, H, W)`` -> tuple of ``(B, embed_dims[i], H_i, W_i)`` for ``i`` in
        ``out_indices``."""
        self.check_input(x)
        self._check_input_size(x.shape[2:])
        tokens, hw = self.patch_embed(x)
        last = max(self.out_indices)
        outs = []
        for i in range(last + 1):
            stage = self.stages[i]
            tokens = getattr(self, f'norm{i}')(stage(tokens, hw))
            x = tokens_to_map(tokens, hw)
            if i in self.out_indices:
                outs.append(x.contiguous())
            if i < last:
                tokens, hw = stage.downsample(x)
        return tuple(outs)

    def get_layer_depth(self, param_name, prefix=''):
        """Layer id for layer-wise lr decay (mmpretrain's ``LearningRateDecayOptimWrapper``):
        0 for the stem, blocks numbered consecutively; ``stages[i].downsample`` goes with the
        first block of stage ``i + 1``, ``norm{i}`` with the last block of stage ``i``."""
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):].split('.')
        if name[0] == 'patch_embed':
            return 0, num_layers
        if name[0] == 'stages':
            i = int(name[1])
            before = sum(self.depths[:i])
            if name[2] == 'blocks':
                return before + int(name[3]) + 1, num_layers
            if name[2] == 'downsample':
                return before + self.depths[i] + 1, num_layers
        if name[0].startswith('norm') and name[0][4:].isdigit():
            return sum(self.depths[:int(name[0][4:]) + 1]), num_layers
        warnings.warn(f'get_layer_depth: unknown parameter {param_name}')
        return num_layers - 1, num_layers
