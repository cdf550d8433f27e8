"""Stand-Alone Self-Attention ResNets (Ramachandran et al., NeurIPS 2019, arXiv 1906.05909).

A ResNet whose bottleneck 3x3 convolutions are replaced, in chosen stages, by exact ``k x k``
sliding-window self-attention (:class:`~mmvit_plugins.models.layers.LocalSelfAttention2d`), with
either the standard convolution stem ("conv-stem + attention") or the attention stem with
spatially-aware values ("full attention"). There is no official code; every choice the paper
leaves open is an argument, documented in ``configs/sasa/README.md``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS

from ..layers.attention import check_attn_impl, multihead_attention
from ..layers.local_attention import LOCAL_ATTENTION_IMPLS, LocalSelfAttention2d
from .base import BaseBackbone, drop_path_layer, drop_path_rates

#: keys of ``attn_cfg`` (forwarded to :class:`LocalSelfAttention2d`)
ATTN_CFG_KEYS = ('kernel_size', 'num_heads', 'pos_enc', 'logits', 'rel_split', 'qk_scale',
                 'border', 'block_size')
#: keys of ``stem_cfg`` (forwarded to :class:`SASAStem`)
STEM_CFG_KEYS = ('num_heads', 'block', 'num_mixtures', 'embed_dims', 'qk_scale', 'relu')


def check_cfg_keys(owner, name, cfg, allowed):
    """``cfg`` as a dict, or a ``ValueError`` naming its unknown keys."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(f'{owner} {name}: unknown keys {unknown} (allowed {list(allowed)})')
    return cfg


def check_attn_args(owner, attn_cfg, attn_impl):
    """The checked ``attn_cfg`` of a module built from SASA layers (backbone, neck, head)."""
    if attn_impl not in LOCAL_ATTENTION_IMPLS:
        raise ValueError(f'{owner} attn_impl must be one of {LOCAL_ATTENTION_IMPLS}, got '
                         f'{attn_impl!r}')
    return check_cfg_keys(owner, 'attn_cfg', attn_cfg, ATTN_CFG_KEYS)


class SASAStem(nn.Module):
    """Attention stem with spatially-aware values (paper Sec. 3.2 and App. A.1).

    Self-attention inside every non-overlapping ``block x block`` patch of the image (the
    receptive field is aligned with the following max-pool), logits ``q . k`` only, values

    ``v_ab = (sum_m p(a, b, m) W_V^m) x_ab``,
    ``p(a, b, m) = softmax_m((e_row(a) + e_col(b)) . nu_m)``

    with absolute row/column embeddings inside the block and mixture weights shared by the
    heads; then BatchNorm, ReLU and ``block x block`` max-pooling.

    Args:
        in_channels (int): image channels. Default 3.
        out_channels (int): stem width. Default 64.
        num_heads (int): heads. Default 4 (paper).
        block (int): block side = max-pool size. Default 4 (paper).
        num_mixtures (int): number ``M`` of value matrices (not stated in the paper). Default 8.
        embed_dims (int): width of ``e_row``, ``e_col``, ``nu_m``; default ``out_channels``.
        qk_scale (bool): scale ``q . k`` by ``d^-1/2``. Default True.
        relu (bool): ReLU between BN and max-pool (not stated in the paper). Default True.
        norm_cfg (dict): norm after the attention.
        attn_impl (str): ``'fast'`` (fused SDPA) or ``'reference'``.

    Shape:
        ``(B, in_channels, H, W) -> (B, out_channels, ceil(H / block), ceil(W / block))``; sizes
        that are not multiples of ``block`` are padded, and padded pixels are masked as keys and
        excluded from the max-pool.
    """

    def __init__(self, in_channels=3, out_channels=64, num_heads=4, block=4, num_mixtures=8,
                 embed_dims=None, qk_scale=True, relu=True, norm_cfg=dict(type='BN'),
                 attn_impl='fast'):
        super().__init__()
        if out_channels % num_heads:
            raise ValueError(f'stem out_channels={out_channels} is not divisible by '
                             f'num_heads={num_heads}')
        self.out_channels = out_channels
        self.num_heads = num_heads
        self.block = block
        self.num_mixtures = num_mixtures
        self.attn_impl = check_attn_impl(attn_impl)
        embed_dims = embed_dims or out_channels
        self.scale = (out_channels // num_heads) ** -0.5 if qk_scale else 1.0
        self.q_proj = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.k_proj = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        # the M value matrices W_V^m stacked: (M * out_channels, in_channels)
        self.v_proj = nn.Conv2d(in_channels, num_mixtures * out_channels, 1, bias=False)
        self.emb_row = nn.Parameter(torch.empty(block, embed_dims))
        self.emb_col = nn.Parameter(torch.empty(block, embed_dims))
        self.emb_mix = nn.Parameter(torch.empty(num_mixtures, embed_dims))
        self.norm_name, norm = build_norm_layer(norm_cfg, out_channels, postfix=1)
        self.add_module(self.norm_name, norm)
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self):
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.normal_(proj.weight, std=proj.in_channels ** -0.5)
        for emb in (self.emb_row, self.emb_col, self.emb_mix):
            nn.init.normal_(emb, std=emb.shape[1] ** -0.5)

    @property
    def norm1(self):
        return getattr(self, self.norm_name)

    def mixture_weights(self):
        """``p(a, b, m)``: ``(block, block, M)``, a softmax over ``m``."""
        emb = self.emb_row[:, None] + self.emb_col[None]  # (block, block, E)
        return (emb @ self.emb_mix.t()).softmax(-1)

    def forward(self, x):
        b, _, h, w = x.shape
        s, n = self.block, self.num_heads
        nh, nw = -(-h // s), -(-w // s)
        x = F.pad(x, [0, nw * s - w, 0, nh * s - h])
        c, d = self.out_channels, self.out_channels // n
        v = self.v_proj(x).view(b, self.num_mixtures, c, nh * s, nw * s)
        p = self.mixture_weights().permute(2, 0, 1).repeat(1, nh, nw)  # (M, H', W')
        v = torch.einsum('bmchw,mhw->bchw', v, p)

        def blocks(t):  # (B, C, nh*s, nw*s) -> (B, N, nh*nw, s*s, d)
            t = t.reshape(b, n, d, nh, s, nw, s).permute(0, 1, 3, 5, 4, 6, 2)
            return t.reshape(b, n, nh * nw, s * s, d)

        bias = None
        if nh * s != h or nw * s != w:
            valid = F.pad(x.new_ones(h, w), [0, nw * s - w, 0, nh * s - h])
            valid = valid.view(nh, s, nw, s).permute(0, 2, 1, 3).reshape(nh * nw, 1, s * s)
            bias = torch.zeros_like(valid).masked_fill(valid == 0, float('-inf'))
        out = multihead_attention(blocks(self.q_proj(x)), blocks(self.k_proj(x)), blocks(v),
                                  self.scale, bias=bias, impl=self.attn_impl)
        out = out.view(b, n, nh, nw, s, s, d).permute(0, 1, 6, 2, 4, 3, 5)
        out = out.reshape(b, c, nh * s, nw * s)[..., :h, :w]
        out = self.relu(self.norm1(out))
        return F.max_pool2d(out, s, s, ceil_mode=True)


class SASABottleneck(nn.Module):
    """ResNet bottleneck whose 3x3 convolution may be SASA attention (``style='pytorch'``).

    ``1x1 -> BN -> ReLU -> {3x3 conv | attention [-> 2x2 avg-pool]} -> BN -> ReLU -> 1x1 -> BN``
    plus the shortcut, then ReLU. Module names follow mmdet's ``Bottleneck`` (``conv1``,
    ``bn1``, ..., ``downsample``) so the all-convolution variant loads torchvision/mmdet
    ResNet weights.

    Shape: ``(B, inplanes, H, W) -> (B, 4 planes, ceil(H / stride), ceil(W / stride))``.
    """
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, use_attn=True,
                 attn_cfg=None, attn_impl='fast', norm_cfg=dict(type='BN'), drop_path=0.,
                 with_cp=False):
        super().__init__()
        self.with_cp = with_cp
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.add_module(self.norm1_name, norm1)
        if use_attn:
            self.conv2 = LocalSelfAttention2d(planes, planes, stride=stride, impl=attn_impl,
                                              **(attn_cfg or {}))
        else:
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = drop_path_layer(drop_path)

    @property
    def norm1(self):
        return getattr(self, self.norm1_name)

    @property
    def norm2(self):
        return getattr(self, self.norm2_name)

    @property
    def norm3(self):
        return getattr(self, self.norm3_name)

    def forward(self, x):

        def _inner(x):
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.relu(self.norm2(self.conv2(out)))
            out = self.norm3(self.conv3(out))
            identity = x if self.downsample is None else self.downsample(x)
            return identity + self.drop_path(out)

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner, x, use_reentrant=False)
        else:
            out = _inner(x)
        return self.relu(out)


@MODELS.register_module()
class SASAResNet(BaseBackbone):
    """Stand-Alone Self-Attention ResNet (ResNet-26/38/50), with mmdet ResNet's module names.

    The stem is ``conv1``/``norm1`` (+ ReLU, max-pool) or ``stem`` (:class:`SASAStem`); stage
    ``i`` (0-based) is ``layer{i + 1}``, an ``nn.Sequential`` of :class:`SASABottleneck`.

    Args:
        depth (int): 26, 38 or 50 (stage blocks ``arch_settings[depth]``).
        stem_type (str): ``'conv'`` (7x7/2 conv, BN, ReLU, 3x3/2 max-pool; "conv-stem +
            attention") or ``'attention'`` (:class:`SASAStem`; "full attention").
        in_channels (int): image channels. Default 3.
        stem_channels (int): stem width. Default 64.
        base_channels (int): bottleneck width of the first stage (widths double per stage);
            scaling it gives the paper's width-multiplied models (Fig. 5). Default 64.
        stage_blocks (Sequence[int], optional): override the blocks per stage of ``depth``
            (custom/toy models).
        strides (Sequence[int]): stride of the first block of each stage. Default (1, 2, 2, 2).
        stage_with_attn (Sequence[bool]): stages whose 3x3 convs become attention (the layer-group
            ablation of Table 3). Default all four.
        attn_cfg (dict): arguments of :class:`LocalSelfAttention2d`: ``kernel_size`` (7),
            ``num_heads`` (8), ``pos_enc``, ``logits``, ``rel_split``, ``qk_scale``, ``border``,
            ``block_size``.
        stem_cfg (dict): arguments of :class:`SASAStem` (``num_heads``, ``block``,
            ``num_mixtures``, ``embed_dims``, ``qk_scale``, ``relu``).
        attn_impl (str): ``'fast'`` (halo blocks), ``'reference'`` (offset loop) or
            ``'unfold'`` (naive; exact FLOP counts). The stem uses ``'reference'`` attention for
            ``'reference'`` and fused SDPA otherwise.
        out_indices (int | Sequence[int]): stages whose outputs are returned (negatives count
            from the end). Default (0, 1, 2, 3).
        frozen_stages (int): -1 none, 0 the stem, k the stem and ``layer1..layerk``.
        norm_cfg (dict): norm layers config. Default BN.
        norm_eval (bool): BN layers in eval mode while training.
        with_cp (bool): activation checkpointing per block.
        zero_init_residual (bool): zero the last BN of each block (from-scratch init).
        drop_path_rate (float): stochastic depth, linear over the blocks. Default 0.
        pretrained (str, optional): deprecated, use ``init_cfg``.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')``.

    Shape:
        input ``(B, in_channels, H, W)``; stage ``i`` output ``(B, num_features[i], H_i, W_i)``
        with ``num_features[i] = 4 base_channels 2^i`` and ``H_i = ceil(H / 2^(i + 2))``.
    """
    #: depth -> blocks per stage (mmdet ResNet's name)
    arch_settings = {
        26: (1, 2, 4, 1),
        38: (2, 3, 5, 2),
        50: (3, 4, 6, 3),
    }
    converter = None  # no official checkpoints exist

    def __init__(self, depth=50, stem_type='conv', in_channels=3, stem_channels=64,
                 base_channels=64, stage_blocks=None, strides=(1, 2, 2, 2),
                 stage_with_attn=(True, True, True, True), attn_cfg=None, stem_cfg=None,
                 attn_impl='fast', out_indices=(0, 1, 2, 3), frozen_stages=-1,
                 norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, with_cp=False,
                 zero_init_residual=True, drop_path_rate=0., pretrained=None, init_cfg=None):
        super().__init__(frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp,
                         pretrained=pretrained, init_cfg=init_cfg)
        if depth not in self.arch_settings:
            raise ValueError(f'unknown SASAResNet depth {depth!r}: choose one of '
                             f'{sorted(self.arch_settings)} (with stage_blocks=... for a '
                             'custom model)')
        if stem_type not in ('conv', 'attention'):
            raise ValueError(f"stem_type must be 'conv' or 'attention', got {stem_type!r}")
        self.attn_cfg = check_attn_args('SASAResNet', attn_cfg, attn_impl)
        stage_blocks = tuple(stage_blocks or self.arch_settings[depth])
        num_stages = len(stage_blocks)
        for name, value in (('strides', strides), ('stage_with_attn', stage_with_attn)):
            if len(value) != num_stages:
                raise ValueError(f'{name} needs one entry per stage ({num_stages}), got '
                                 f'{tuple(value)}')
        self.set_stages(num_stages, out_indices)
        self.stem_cfg = check_cfg_keys('SASAResNet', 'stem_cfg', stem_cfg, STEM_CFG_KEYS)
        self.depth = depth
        self.stem_type = stem_type
        self.in_channels = in_channels
        self.stage_blocks = stage_blocks
        self.stage_with_attn = tuple(bool(a) for a in stage_with_attn)
        self.attn_impl = attn_impl
        self.zero_init_residual = zero_init_residual
        self.norm_cfg = norm_cfg

        if stem_type == 'conv':
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3,
                                   bias=False)
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.stem = SASAStem(in_channels, stem_channels, norm_cfg=norm_cfg,
                                 attn_impl='reference' if attn_impl == 'reference' else 'fast',
                                 **self.stem_cfg)

        dpr = drop_path_rates(drop_path_rate, stage_blocks)
        expansion = SASABottleneck.expansion
        self.res_layers = []
        self.num_features = []
        inplanes = stem_channels
        for i, num_blocks in enumerate(stage_blocks):
            planes = base_channels * 2**i
            blocks = []
            for j in range(num_blocks):
                stride = strides[i] if j == 0 else 1
                downsample = None
                if j == 0 and (stride != 1 or inplanes != planes * expansion):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * expansion, 1, stride=stride, bias=False),
                        build_norm_layer(norm_cfg, planes * expansion)[1])
                blocks.append(SASABottleneck(
                    inplanes, planes, stride=stride, downsample=downsample,
                    use_attn=self.stage_with_attn[i], attn_cfg=self.attn_cfg,
                    attn_impl=attn_impl, norm_cfg=norm_cfg, drop_path=dpr[i][j],
                    with_cp=self.with_cp))
                inplanes = planes * expansion
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, nn.Sequential(*blocks))
            self.res_layers.append(layer_name)
            self.num_features.append(inplanes)
        self.feat_dim = inplanes  # mmdet ResNet's name for the last stage's channels
        self._freeze_stages()


    @property
    def norm1(self):
        return getattr(self, self.norm1_name)

    def _stem_modules(self):
        return [self.conv1, self.norm1] if self.stem_type == 'conv' else [self.stem]

    def _stage_modules(self, i):
        return [getattr(self, self.res_layers[i])]

    def _init_default_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.SyncBatchNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.modules():  # attention projections: fan-in normal, after the loop above
            if isinstance(m, (LocalSelfAttention2d, SASAStem)):
                m.reset_parameters()
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, SASABottleneck):
                    nn.init.constant_(m.norm3.weight, 0)

    def forward(self, x):
        """``(B, in_channels, H, W)`` -> tuple of ``(B, C_i, H_i, W_i)``, one per
        ``out_indices``, in stage order."""
        self.check_input(x)
        if self.stem_type == 'conv':
            x = self.maxpool(self.relu(self.norm1(self.conv1(x))))
        else:
            x = self.stem(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
