"""SASAResNet specifics: its two stems, the three attention paths, mmdet ResNet compatibility,
its own argument checks, initialisation, and the paper's params/FLOPs. The generic backbone
behaviour (out_indices, frozen_stages, norm_eval, with_cp, drop path, Pretrained loading, input
checks) is tested for every family in tests/test_backbone_contract.py."""
import pytest
import torch
import torch.nn as nn
from utils import check_norm_state

from mmvit_plugins.models.backbones import SASAResNet
from mmvit_plugins.models.backbones.sasa import SASABottleneck, SASAStem
from mmvit_plugins.models.layers import LocalSelfAttention2d
from mmvit_plugins.utils.complexity import get_complexity

TINY = dict(depth=26, stage_blocks=(1, 1, 1, 1), stem_channels=16, base_channels=16,
            attn_cfg=dict(num_heads=4, kernel_size=5), stem_cfg=dict(num_heads=2,
                                                                     num_mixtures=2))


def tiny(**kwargs):
    cfg = dict(TINY)
    cfg.update(kwargs)
    return SASAResNet(**cfg)


@pytest.mark.parametrize('stem_type', ['conv', 'attention'])
def test_fast_reference_and_unfold_agree(stem_type):
    """Both stems at a size that is not a multiple of the stem block or the strides."""
    model = tiny(stem_type=stem_type, stage_blocks=(2, 1, 1, 1)).eval()
    x = torch.randn(1, 3, 45, 38)
    outs = {}
    for impl in ('fast', 'reference', 'unfold'):
        for m in model.modules():
            if isinstance(m, LocalSelfAttention2d):
                m.impl = impl
            elif isinstance(m, SASAStem):
                m.attn_impl = 'reference' if impl == 'reference' else 'fast'
        with torch.no_grad():
            outs[impl] = model(x)
    assert model.num_features == [64, 128, 256, 512]
    for i, out in enumerate(outs['reference']):
        s = 2**(i + 2)
        assert out.shape == (1, model.num_features[i], -(-45 // s), -(-38 // s))
    for impl in ('fast', 'unfold'):
        for a, b in zip(outs[impl], outs['reference']):
            assert (a - b).abs().max() < 1e-4
    # the constructor argument selects the same implementation
    model2 = tiny(stem_type=stem_type, stage_blocks=(2, 1, 1, 1), attn_impl='reference')
    model2.load_state_dict(model.state_dict())
    with torch.no_grad():
        ref = model2.eval()(x)
    assert all((a - b).abs().max() < 1e-4 for a, b in zip(outs['fast'], ref))


@pytest.mark.parametrize('stem_type', ['conv', 'attention'])
def test_frozen_stem_follows_the_stem_type(stem_type):
    model = tiny(stem_type=stem_type, frozen_stages=1)
    stem = [model.conv1, model.norm1] if stem_type == 'conv' else [model.stem]
    model.train()
    for mod in stem + [model.layer1]:
        assert all(not p.requires_grad for p in mod.parameters())
        assert check_norm_state(mod.modules(), False)
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not hasattr(model, 'stem' if stem_type == 'conv' else 'conv1')


def test_all_conv_variant_is_mmdet_resnet50():
    """With no attention stage the backbone is torchvision/mmdet ResNet-50 (same weights)."""
    from mmdet.models.backbones import ResNet
    ref = ResNet(50, out_indices=(0, 1, 2, 3))
    ref.eval()  # mmdet's ResNet.train() returns None
    model = SASAResNet(50, stage_with_attn=(False, ) * 4).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 50)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x)):
            assert a.shape == b.shape and (a - b).abs().max() < 1e-5


def test_stage_with_attn_selects_layers():
    model = tiny(stage_with_attn=(False, True, False, True), stage_blocks=(1, 2, 1, 1))
    kinds = [type(getattr(model, f'layer{i + 1}')[0].conv2) for i in range(4)]
    assert kinds == [nn.Conv2d, LocalSelfAttention2d, nn.Conv2d, LocalSelfAttention2d]
    assert isinstance(model.layer2[1].conv2, LocalSelfAttention2d)
    attn = model.layer2[0].conv2
    assert attn.stride == 2 and attn.kernel_size == 5 and attn.num_heads == 4


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=101), r'unknown SASAResNet depth 101: choose one of \[26, 38, 50\]'),
    (dict(stem_type='deep'), 'stem_type'),
    (dict(attn_impl='flash'), 'attn_impl'),
    (dict(attn_cfg=dict(window=7)), r"attn_cfg: unknown keys \['window'\]"),
    (dict(stem_cfg=dict(heads=4)), r"stem_cfg: unknown keys \['heads'\]"),
    (dict(stage_with_attn=(True, True)), 'one entry per stage'),
    (dict(attn_cfg=dict(num_heads=5)), 'divisible'),
])
def test_bad_arguments(kwargs, match):
    cfg = dict(depth=26)
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SASAResNet(**cfg)


def test_default_init_zeroes_last_bn_and_keeps_attention_init():
    model = tiny()
    model.init_weights()
    blk = model.layer1[0]
    assert isinstance(blk, SASABottleneck)
    assert torch.all(blk.norm3.weight == 0)
    w = blk.conv2.q_proj.weight
    assert abs(w.std().item() - 16**-0.5) < 0.05  # fan-in normal, not kaiming fan-out


# ------------------------------------------------------------------ params and FLOPs
class _Classifier(nn.Module):
    """Backbone + global pooling + 1000-way FC, the model of the paper's Table 1."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.num_features[-1], 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def _complexity(depth=50, **kwargs):
    # 'unfold' performs exactly the layer's arithmetic; the meta device makes it free
    model = _Classifier(SASAResNet(depth, attn_impl='unfold', out_indices=(3, ), **kwargs))
    res = get_complexity(model.to('meta'), (3, 224, 224))
    return res['params'] / 1e6, res['flops'] / 1e9


# (depth, stem, attention, paper params M, paper GFLOPs) -- paper Table 1
TABLE1 = [
    (26, 'conv', True, 10.3, 4.5), (38, 'conv', True, 14.1, 5.7), (50, 'conv', True, 18.0, 7.0),
    (26, 'attention', True, 10.3, 4.7), (38, 'attention', True, 14.1, 6.0),
    (50, 'attention', True, 18.0, 7.2),
    (26, 'conv', False, 13.7, 4.7), (38, 'conv', False, 19.6, 6.5), (50, 'conv', False, 25.6, 8.2),
]


@pytest.mark.parametrize('row', TABLE1, ids=lambda r: f'r{r[0]}-{r[1]}-attn{r[2]}')
def test_table1_params_and_flops(row):
    depth, stem, attn, paper_params, paper_gflops = row
    params, gflops = _complexity(depth, stem_type=stem, stage_with_attn=(attn, ) * 4)
    # within one unit of the paper's last printed digit (R38: 14.19 vs 14.1, 5.94 vs 6.0*)
    assert abs(params - paper_params) < 0.1, params
    assert abs(gflops - paper_gflops) < 0.1, gflops


# ablations of the paper (R50, conv stem): (kwargs, paper params, paper GFLOPs)
ABLATIONS = [
    (dict(stage_with_attn=(False, True, True, True)), 18.1, 7.3),  # Table 3
    (dict(stage_with_attn=(False, False, False, True)), 20.8, 8.0),
    (dict(stage_with_attn=(True, False, False, False)), 25.5, 7.9),
    (dict(stage_with_attn=(True, True, True, False)), 22.7, 7.2),
    (dict(attn_cfg=dict(kernel_size=5)), 18.0, 6.7),  # Table 4
    (dict(attn_cfg=dict(kernel_size=9)), 18.0, 7.3),
    (dict(attn_cfg=dict(logits='qr')), 16.7, 6.1),  # Table 6: the key projection is dropped
]


@pytest.mark.parametrize('kwargs,paper_params,paper_gflops', ABLATIONS)
def test_ablation_params_and_flops(kwargs, paper_params, paper_gflops):
    params, gflops = _complexity(**kwargs)
    assert abs(params - paper_params) < 0.1, params
    assert abs(gflops - paper_gflops) < 0.1, gflops
