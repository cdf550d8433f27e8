"""The attention FPN of the all-attention RetinaNet (SASA paper, Table 2 rows 4-5, App. A.3).

mmdet's :class:`~mmdet.models.necks.FPN` with every 3x3 convolution (the output convolutions and
the strided extra P6/P7 convolutions) replaced by the SASA layer
(:class:`~mmvit_plugins.models.layers.LocalSelfAttention2d`); the 1x1 lateral convolutions,
the top-down pathway and every FPN argument are mmdet's.
"""
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.models.necks import FPN

from ..backbones.sasa import check_attn_args
from ..layers.local_attention import LocalSelfAttention2d


class SASAConvModule(nn.Module):
    """mmcv's ``ConvModule`` (conv -> norm -> activation) with the SASA layer as its conv.

    ``stride=2`` is attention at the input resolution followed by 2x2 average pooling (the
    paper's downsampling), with the output size of a 3x3 stride-2 convolution. The attributes
    keep ``ConvModule``'s names (``conv``, ``norm``, ``activate``) so that code walking a
    ConvModule finds the same parts.

    Args:
        in_channels (int), out_channels (int), stride (int): as the replaced convolution.
        attn_cfg (dict): :class:`LocalSelfAttention2d` arguments (``kernel_size``,
            ``num_heads``, ``pos_enc``, ...).
        attn_impl (str): ``'fast'``, ``'reference'`` or ``'unfold'``.
        norm_cfg (dict | None), act_cfg (dict | None): as ``ConvModule``'s.
    """

    def __init__(self, in_channels, out_channels, stride=1, attn_cfg=None, attn_impl='fast',
                 norm_cfg=None, act_cfg=dict(type='ReLU')):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.conv = LocalSelfAttention2d(in_channels, out_channels, stride=stride,
                                         impl=attn_impl, **(attn_cfg or {}))
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        if self.with_norm:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        if self.with_activation:
            self.activate = build_activation_layer(act_cfg)

    @property
    def norm(self):
        return getattr(self, self.norm_name) if self.with_norm else None

    def forward(self, x):
        x = self.conv(x)
        if self.with_norm:
            x = self.norm(x)
        if self.with_activation:
            x = self.activate(x)
        return x


class SASAFPN(FPN):
    """FPN whose 3x3 output and extra convolutions are SASA attention layers.

    Takes every argument of mmdet's ``FPN`` (``start_level``, ``add_extra_convs``,
    ``relu_before_extra_convs``, ``norm_cfg``, ...) with the same meaning, plus:

    Args:
        attn_cfg (dict): arguments of the attention layers (:class:`LocalSelfAttention2d`,
            as the backbone's ``attn_cfg``). Default: the paper's ``k = 7``, 8 heads.
        attn_impl (str): ``'fast'`` (default), ``'reference'`` or ``'unfold'`` (exact FLOP
            counts), as the backbone's.

    ``conv_cfg`` still applies to the 1x1 lateral convolutions only. The init is FPN's (Xavier
    on every ``Conv2d``, here also the attention's Q/K/V projections); the relative embeddings
    keep the layer's own init.
    """

    def __init__(self, in_channels, out_channels, num_outs,
                 attn_cfg=dict(kernel_size=7, num_heads=8), attn_impl='fast', **kwargs):
        self.attn_cfg = check_attn_args('SASAFPN', attn_cfg, attn_impl)
        self.attn_impl = attn_impl
        super().__init__(in_channels, out_channels, num_outs, **kwargs)
        # FPN's own construction decides which levels exist and what feeds them; only the
        # 3x3 ConvModules it built are swapped, with their channels, stride, norm and act
        for i, conv in enumerate(self.fpn_convs):
            self.fpn_convs[i] = SASAConvModule(
                conv.in_channels, conv.out_channels, stride=conv.conv.stride[0],
                attn_cfg=self.attn_cfg, attn_impl=attn_impl,
                norm_cfg=kwargs.get('norm_cfg'), act_cfg=kwargs.get('act_cfg'))
