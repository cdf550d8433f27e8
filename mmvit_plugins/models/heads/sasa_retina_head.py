"""The attention heads of the all-attention RetinaNet (SASA paper, Table 2 rows 4-5, App. A.3).

mmdet's :class:`~mmdet.models.dense_heads.RetinaHead` (anchors, losses, shared weights across
levels, predict and loss paths unchanged) with its stacked 3x3 convolutions replaced by the SASA
layer and a pointwise convolution added at the end of each branch to mix the attention heads
(the layer has no output projection).
"""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads import RetinaHead

from ..backbones.sasa import check_attn_args
from ..necks.sasa_fpn import SASAConvModule


class SASARetinaHead(RetinaHead):
    """RetinaHead whose ``stacked_convs`` 3x3 convolutions are SASA attention layers.

    Each branch: ``stacked_convs`` x (attention -> norm -> ReLU), then (``mix_heads``) a 1x1
    convolution -> norm -> ReLU mixing the attention heads, then the prediction layer
    (``retina_cls`` / ``retina_reg``, a ``pred_kernel_size`` convolution).

    Takes every argument of mmdet's ``RetinaHead``, plus:

    Args:
        attn_cfg (dict): arguments of the attention layers (:class:`LocalSelfAttention2d`).
            Default: the paper's ``k = 7``, 8 heads.
        attn_impl (str): ``'fast'`` (default), ``'reference'`` or ``'unfold'``.
        mix_heads (bool): the pointwise head-mixing convolution. Default True (paper).
        pred_kernel_size (int): kernel of the prediction layers. Default 3 (RetinaNet's; the
            paper does not say what its prediction layers are).

    Init: RetinaHead's ``N(0, 0.01)`` on every ``Conv2d``, which gives the attention values
    ``W_V`` the paper's ``N(0, 0.01)``; the queries and keys then get the layer's fan-in normal
    init again (``N(0, 0.01)`` queries and keys would start every window as a flat average
    whose logits barely receive gradient).
    """

    def __init__(self, num_classes, in_channels, attn_cfg=dict(kernel_size=7, num_heads=8),
                 attn_impl='fast', mix_heads=True, pred_kernel_size=3, **kwargs):
        self.attn_cfg = check_attn_args('SASARetinaHead', attn_cfg, attn_impl)
        self.attn_impl = attn_impl
        self.mix_heads = mix_heads
        if pred_kernel_size not in (1, 3):
            raise ValueError(f'pred_kernel_size must be 1 or 3, got {pred_kernel_size!r}')
        self.pred_kernel_size = pred_kernel_size
        if kwargs.get('conv_cfg') is not None:
            raise ValueError('SASARetinaHead has no convolution for conv_cfg to configure; '
                             'the attention layers take attn_cfg')
        super().__init__(num_classes, in_channels, **kwargs)

    def _init_layers(self):
        super()._init_layers()
        for convs in (self.cls_convs, self.reg_convs):
            for i, conv in enumerate(convs):
                convs[i] = SASAConvModule(conv.in_channels, conv.out_channels,
                                          attn_cfg=self.attn_cfg, attn_impl=self.attn_impl,
                                          norm_cfg=self.norm_cfg)
        chn = self.feat_channels if self.stacked_convs else self.in_channels
        if self.mix_heads:
            self.cls_mix = ConvModule(chn, chn, 1, norm_cfg=self.norm_cfg)
            self.reg_mix = ConvModule(chn, chn, 1, norm_cfg=self.norm_cfg)
        if self.pred_kernel_size != 3:
            k = self.pred_kernel_size
            self.retina_cls = nn.Conv2d(chn, self.retina_cls.out_channels, k, padding=k // 2)
            self.retina_reg = nn.Conv2d(chn, self.retina_reg.out_channels, k, padding=k // 2)

    def init_weights(self):
        super().init_weights()
        for convs in (self.cls_convs, self.reg_convs):
            for conv in convs:
                attn = conv.conv
                for proj in (attn.q_proj, attn.k_proj):
                    if proj is not None:
                        nn.init.normal_(proj.weight, std=attn.in_channels ** -0.5)

    def forward_single(self, x):
        cls_feat = x
        reg_feat = x
        for cls_conv in self.cls_convs:
            cls_feat = cls_conv(cls_feat)
        for reg_conv in self.reg_convs:
            reg_feat = reg_conv(reg_feat)
        if self.mix_heads:
            cls_feat = self.cls_mix(cls_feat)
            reg_feat = self.reg_mix(reg_feat)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat)
