"""DAT++ backbone: "DAT++: Spatially Dynamic Vision Transformer with Deformable Attention"
(Xia et al., arXiv 2309.01430), for mmdet / mmseg / mmpretrain.

Structure (all maps NCHW)::

    patch_embed (two stride-2 3x3 convs) -> stages[0] -> ... -> stages[3]
    stages[i]:  blocks[0..d-1], then downsample (3x3 stride-2 conv + LN; not in the last stage)
    block:      x += lpu(x)                                (3x3 depthwise conv)
                x += drop_path(attn(norm1(x)))             (N: 7x7 neighbourhood, D: deformable)
                x += drop_path(mlp(norm2(x)))              (1x1 -> +DWConv3x3 -> GELU -> 1x1)

Module names follow mmdet / mmpretrain Swin (``patch_embed``, ``stages[i].blocks[j]``,
``stages[i].downsample``, ``norm{i}``, ``relative_position_bias_table`` for the deformable
tables; the neighbourhood tables keep NATTEN's ``rpb``);
:mod:`mmvit_plugins.converters.dat` maps the official names onto them.

Every layer computes what the official ``LeapLabTHU/DAT@32173fc`` code computes; the fast
path (``attn_impl='fast'``) reorganises the deformable and the neighbourhood attention
(:mod:`~mmvit_plugins.models.layers`) without changing the result beyond float rounding.
"""
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.registry import MODELS

from ..layers.attention import check_attn_impl
from ..layers.deformable_attention import DeformableAttention2d, LayerNorm2d
from ..layers.neighborhood_attention import NeighborhoodAttention2d
from .base import BaseBackbone, drop_path_layer, drop_path_rates

__all__ = ['DAT', 'DATBlock', 'DATStage', 'ConvFFN', 'LayerNorm2d', 'DeformableAttention2d']


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` applied to NCHW maps (the backbone's output norms ``norm{i}``)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


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


# --------------------------------------------------------------------------- block
class DATBlock(nn.Module):
    """One DAT++ block: ``x += lpu(x)``; ``x += drop_path(attn(norm1(x)))``;
    ``x += drop_path(mlp(norm2(x)))`` (one drop-path rate serves both residuals).

    Args:
        embed_dims (int): channels ``C``.
        block_type (str): ``'N'`` (neighbourhood attention) or ``'D'`` (deformable).
        num_heads, num_groups, stride, offset_kernel_size, q_size, offset_range_factor,
            use_pe: see :class:`DeformableAttention2d` (only the first is used by ``'N'``).
        nat_kernel_size (int): window of the neighbourhood attention.
        mlp_ratio (float): hidden width of the MLP over ``C``.
        drop_rate (float), attn_drop_rate (float), drop_path_rate (float): regularisation.
        use_lpu (bool): add the local perception unit (3x3 depthwise conv).
        attn_impl (str): ``'fast'`` or ``'reference'``.
        with_cp (bool): activation checkpointing of the block while training.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, embed_dims, block_type, num_heads, num_groups, stride,
                 offset_kernel_size, nat_kernel_size, q_size, mlp_ratio=4, drop_rate=0.,
                 attn_drop_rate=0., drop_path_rate=0., use_lpu=True, offset_range_factor=-1,
                 use_pe=True, attn_impl='fast', with_cp=False):
        super().__init__()
        self.with_cp = with_cp
        self.lpu = (nn.Conv2d(embed_dims, embed_dims, 3, 1, 1, groups=embed_dims)
                    if use_lpu else None)
        self.norm1 = LayerNorm2d(embed_dims)
        if block_type == 'N':
            self.attn = NeighborhoodAttention2d(embed_dims, num_heads, nat_kernel_size,
                                                attn_drop_rate, drop_rate, attn_impl=attn_impl)
        elif block_type == 'D':
            self.attn = DeformableAttention2d(
                embed_dims, num_heads, num_groups, stride, offset_kernel_size, q_size,
                offset_range_factor, use_pe, attn_drop_rate, drop_rate, attn_impl=attn_impl)
        else:
            raise ValueError(f"block spec {block_type!r} is not supported: DAT++ uses 'N' "
                             f"(neighbourhood) and 'D' (deformable) blocks")
        self.norm2 = LayerNorm2d(embed_dims)
        self.mlp = ConvFFN(embed_dims, mlp_ratio, drop_rate)
        self.drop_path = drop_path_layer(drop_path_rate)

    def _forward(self, x):
        if self.lpu is not None:
            x = x + self.lpu(x)
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def forward(self, x):
        if self.with_cp and self.training and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


# --------------------------------------------------------------------------- stage
class DATStage(nn.Module):
    """One DAT++ stage (official ``TransformerStage``) and the downsampling that ends it.

    ``proj`` (a 1x1 conv, only when ``in_channels != embed_dims``), the blocks, and
    ``downsample`` (``Conv3x3 stride 2 -> LN`` to ``out_channels``; ``None`` without
    ``out_channels``). :meth:`forward` returns the stage output before ``downsample``, which
    the backbone applies after taking the output.

    Shapes: ``(B, in_channels, H, W) -> (B, embed_dims, H, W)``.
    """

    def __init__(self, in_channels, embed_dims, block_types, drop_path_rates, out_channels=None,
                 **block_kwargs):
        super().__init__()
        if len(drop_path_rates) != len(block_types):
            raise ValueError(f'{len(block_types)} blocks but {len(drop_path_rates)} '
                             f'drop-path rates')
        self.proj = (nn.Conv2d(in_channels, embed_dims, 1) if in_channels != embed_dims
                     else nn.Identity())
        self.blocks = nn.ModuleList([
            DATBlock(embed_dims, t, drop_path_rate=r, **block_kwargs)
            for t, r in zip(block_types, drop_path_rates)])
        self.downsample = None
        if out_channels is not None:
            self.downsample = nn.Sequential(
                nn.Conv2d(embed_dims, out_channels, 3, 2, 1, bias=False),
                LayerNorm2d(out_channels))

    def forward(self, x):
        x = self.proj(x)
        for block in self.blocks:
            x = block(x)
        return x


# --------------------------------------------------------------------------- backbone
def _default_specs(depths):
    """``[N, D]`` pairs in stages 0-2 and only ``D`` blocks in stage 3 (DAT++)."""
    return [['D'] * d if i == 3 else [('N', 'D')[j % 2] for j in range(d)]
            for i, d in enumerate(depths)]


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
        out_indices (int | Sequence[int]): stages whose outputs are returned (negatives count
            from the end).
        out_norm (bool): add a LayerNorm ``norm{i}`` on every returned stage (the official
            det/seg backbones do; the classifier's final norm is ``norm3``). ``False`` returns
            the raw stage outputs.
        drop_rate (float): dropout after the projections / in the MLPs.
        attn_drop_rate (float): dropout on attention probabilities.
        drop_path_rate (float): stochastic depth, linear over all blocks.
        offset_range_factor (float): ``-1`` (DAT++, unbounded offsets) or a bound factor.
        attn_impl (str): ``'fast'`` or ``'reference'`` (plain official computation).
        frozen_stages (int): ``0`` freezes ``patch_embed``, ``k`` also ``stages[0..k-1]``
            (with their ``downsample``) and ``norm0..norm{k-1}``; ``-1`` nothing.
        norm_eval (bool): keep BatchNorms in eval mode (DAT++ has none; kept for the API).
        with_cp (bool): activation checkpointing per block while training.
        pretrained (str, optional): deprecated, use ``init_cfg``.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint=PATH)`` with a
            converted checkpoint (``tools/model_converters/dat2mmvit.py``).

    Shapes:
        ``(B, in_channels, H, W) -> tuple`` of ``(B, C_i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2)))``.
    """
    converter = 'dat'

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
    arch_keys = ('embed_dims', 'depths', 'num_heads', 'num_groups')
    arch_optional_keys = ('stem_channels', 'stage_specs', 'strides', 'offset_kernel_sizes',
                          'nat_kernel_sizes', 'mlp_ratio', 'use_pes', 'use_lpus')
    _per_stage_keys = ('embed_dims', 'depths', 'num_heads', 'num_groups', 'stage_specs',
                       'strides', 'offset_kernel_sizes', 'nat_kernel_sizes', 'use_pes',
                       'use_lpus')

    def __init__(self, arch='tiny', img_size=224, in_channels=3, out_indices=(0, 1, 2, 3),
                 out_norm=True, drop_rate=0., attn_drop_rate=0., drop_path_rate=0.,
                 offset_range_factor=-1, attn_impl='fast', frozen_stages=-1, norm_eval=False,
                 with_cp=False, pretrained=None, init_cfg=None):
        super().__init__(frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp,
                         pretrained=pretrained, init_cfg=init_cfg)
        a = self._complete_arch(self.parse_arch(arch))
        self.arch_settings = a
        num_stages = 4
        self.set_stages(num_stages, out_indices)
        self.embed_dims = list(a['embed_dims'])
        self.num_features = list(self.embed_dims)
        self.in_channels = in_channels
        self.attn_impl = check_attn_impl(attn_impl)
        self.out_norm = out_norm
        self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)

        stem = a['stem_channels']
        # Official stem: two stride-2 3x3 convs (patch size 4).
        self.patch_embed = nn.Sequential(
            nn.Conv2d(in_channels, stem // 2, 3, 2, 1), LayerNorm2d(stem // 2), nn.GELU(),
            nn.Conv2d(stem // 2, stem, 3, 2, 1), LayerNorm2d(stem))

        dprs = drop_path_rates(drop_path_rate, a['depths'])
        q_size = (self.img_size[0] // 4, self.img_size[1] // 4)  # stage 0's bias table (official)
        self.stages = nn.ModuleList()
        for i in range(num_stages):
            self.stages.append(DATStage(
                stem if i == 0 else self.embed_dims[i], self.embed_dims[i],
                a['stage_specs'][i], dprs[i],
                out_channels=self.embed_dims[i + 1] if i + 1 < num_stages else None,
                num_heads=a['num_heads'][i], num_groups=a['num_groups'][i],
                stride=a['strides'][i], offset_kernel_size=a['offset_kernel_sizes'][i],
                nat_kernel_size=a['nat_kernel_sizes'][i], q_size=q_size,
                mlp_ratio=a['mlp_ratio'], drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                use_lpu=a['use_lpus'][i], offset_range_factor=offset_range_factor,
                use_pe=a['use_pes'][i], attn_impl=attn_impl, with_cp=with_cp))
            q_size = (q_size[0] // 2, q_size[1] // 2)
        if out_norm:
            for i in self.out_indices:
                self.add_module(f'norm{i}', ChannelsFirstLayerNorm(self.embed_dims[i]))
        self._freeze_stages()

    @classmethod
    def _complete_arch(cls, a):
        """Defaults of the optional arch keys, and the per-stage length checks."""
        a = dict(dict(stem_channels=a['embed_dims'][0], strides=[8, 4, 2, 1],
                      offset_kernel_sizes=[9, 7, 5, 3], nat_kernel_sizes=[7] * 4, mlp_ratio=4,
                      use_pes=[True] * 4, use_lpus=[True] * 4), **a)
        a.setdefault('stage_specs', _default_specs(a['depths']))
        for k in cls._per_stage_keys:
            if len(a[k]) != 4:
                raise ValueError(f'arch[{k!r}] must have 4 entries (one per stage), got {a[k]}')
        for i, (spec, depth) in enumerate(zip(a['stage_specs'], a['depths'])):
            if len(spec) != depth:
                raise ValueError(f'stage {i}: stage_specs has {len(spec)} blocks but depths '
                                 f'says {depth}')
        return a

    def forward(self, x):
        self.check_input(x)
        H, W = x.shape[-2:]
        if H <= 32 or W <= 32:
            raise ValueError(f'DAT++ needs inputs larger than 32x32 (the last stage must keep '
                             f'at least 2x2 positions for the deformable attention), got '
                             f'{H}x{W}; resize or pad the image')
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x) if self.out_norm else x)
            if stage.downsample is not None:
                x = stage.downsample(x)
        return tuple(outs)
