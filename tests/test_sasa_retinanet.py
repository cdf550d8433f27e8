"""The all-attention RetinaNet of the SASA paper (Table 2 rows 4-5): SASAFPN and SASARetinaHead
as mmdet modules, the two paper configs (build, loss and predict passes, parameter ratio) and a
toy variant trained and tested end to end through tools/train.py and tools/test.py."""
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from utils import (REPO, _fake_batch, build_from_config, config_loss_pass, load_config,
                   load_family_config, toy_train_and_test)

CONFIGS = [osp.join(REPO, 'configs', 'sasa', f'retinanet_sasa_r50{stem}_sasa-fpn_sasa-head_'
                    '150e-640_coco.py') for stem in ('', '_full')]
BASELINE = osp.join(REPO, 'configs', 'sasa', 'retinanet_r50_fpn_150e-640_coco.py')
TOY = osp.join(REPO, 'configs', 'sasa', 'toy', 'retinanet_sasa_sasa-fpn_sasa-head_toy_coco.py')
ATTN = dict(kernel_size=3, num_heads=4)
IDS = ['conv_stem', 'full']


def _mmdet_models():
    import mmvit_plugins  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    return MODELS


def _head_cfg(**kwargs):
    cfg = dict(type='SASARetinaHead', num_classes=3, in_channels=16, feat_channels=16,
               stacked_convs=2, attn_cfg=ATTN,
               anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                     scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                     strides=[8, 16, 32, 64, 128]),
               bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                               target_stds=[1.] * 4))
    cfg.update(kwargs)
    return cfg


def test_import_does_not_import_mmdet():
    # the modules subclass mmdet's, but importing the plugin must not import the toolboxes
    code = ('import sys, mmvit_plugins\n'
            'print(sorted(m for m in ("mmdet", "mmseg", "mmpretrain") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert out.strip() == '[]'


@pytest.mark.parametrize('extra', [False, 'on_input', 'on_lateral', 'on_output'])
@pytest.mark.parametrize('relu', [False, True])
def test_sasa_fpn_is_fpn_with_attention(extra, relu):
    from mmcv.cnn import ConvModule
    from mmdet.models.necks import FPN

    from mmvit_plugins.models.layers import LocalSelfAttention2d
    models = _mmdet_models()
    args = dict(in_channels=[8, 16, 32, 64], out_channels=16, start_level=1,
                add_extra_convs=extra, relu_before_extra_convs=relu, num_outs=5)
    fpn = models.build(dict(type='FPN', **args))
    neck = models.build(dict(type='SASAFPN', attn_cfg=ATTN, **args))
    assert isinstance(neck, FPN)
    feats = [torch.randn(2, c, 33 // 2 ** i + 1, 41 // 2 ** i + 1)
             for i, c in enumerate([8, 16, 32, 64])]
    shapes = [o.shape for o in fpn(feats)]
    assert [o.shape for o in neck(feats)] == shapes
    assert len(neck.fpn_convs) == len(fpn.fpn_convs)
    for conv, ref in zip(neck.fpn_convs, fpn.fpn_convs):
        assert isinstance(conv.conv, LocalSelfAttention2d)
        assert (conv.in_channels, conv.stride) == (ref.in_channels, ref.conv.stride[0])
        assert conv.conv.kernel_size == 3 and conv.conv.num_heads == 4
    assert all(isinstance(c, ConvModule) and c.conv.kernel_size == (1, 1)
               for c in neck.lateral_convs)


def test_sasa_fpn_norm_impl_and_errors():
    models = _mmdet_models()
    args = dict(type='SASAFPN', in_channels=[8, 16], out_channels=16, num_outs=3,
                add_extra_convs='on_output', attn_cfg=ATTN,
                norm_cfg=dict(type='GN', num_groups=4))
    fast = models.build(args).eval()
    ref = models.build(dict(args, attn_impl='reference')).eval()
    ref.load_state_dict(fast.state_dict())
    assert all(c.conv.impl == 'reference' for c in ref.fpn_convs)
    assert all(c.norm.__class__.__name__ == 'GroupNorm' for c in fast.fpn_convs)
    feats = [torch.randn(1, 8, 12, 10), torch.randn(1, 16, 6, 5)]
    for a, b in zip(fast(feats), ref(feats)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match='unknown keys'):
        models.build(dict(args, attn_cfg=dict(impl='fast')))
    with pytest.raises(ValueError, match='attn_impl'):
        models.build(dict(args, attn_impl='flex'))


@pytest.mark.parametrize('mix,pred_k', [(True, 3), (False, 3), (True, 1)])
def test_sasa_retina_head_is_retina_head_with_attention(mix, pred_k):
    from mmdet.models.dense_heads import RetinaHead

    from mmvit_plugins.models.layers import LocalSelfAttention2d
    models = _mmdet_models()
    head = models.build(_head_cfg(mix_heads=mix, pred_kernel_size=pred_k))
    ref_cfg = _head_cfg(type='RetinaHead')
    ref_cfg.pop('attn_cfg')
    ref = models.build(ref_cfg)
    assert isinstance(head, RetinaHead)
    head.init_weights()
    for convs in (head.cls_convs, head.reg_convs):
        assert len(convs) == 2
        for conv in convs:
            attn = conv.conv
            assert isinstance(attn, LocalSelfAttention2d) and attn.stride == 1
            # the paper's N(0, 0.01) values; queries and keys keep the layer's fan-in init
            assert attn.v_proj.weight.std().item() == pytest.approx(0.01, rel=0.2)
            assert attn.q_proj.weight.std().item() == pytest.approx(16 ** -0.5, rel=0.3)
    assert hasattr(head, 'cls_mix') == mix and hasattr(head, 'reg_mix') == mix
    assert head.retina_cls.kernel_size == (pred_k, pred_k)
    feats = [torch.randn(2, 16, 16 // 2 ** i + 1, 20 // 2 ** i + 1) for i in range(5)]
    for (c, r), (c_ref, r_ref) in zip(zip(*head(feats)), zip(*ref(feats))):
        assert c.shape == c_ref.shape and r.shape == r_ref.shape


def test_sasa_retina_head_errors():
    models = _mmdet_models()
    with pytest.raises(ValueError, match='conv_cfg'):
        models.build(_head_cfg(conv_cfg=dict(type='Conv2d')))
    with pytest.raises(ValueError, match='pred_kernel_size'):
        models.build(_head_cfg(pred_kernel_size=5))
    with pytest.raises(ValueError, match='unknown keys'):
        models.build(_head_cfg(attn_cfg=dict(window=7)))


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_paper_config_loss_and_predict(path):
    cfg = load_family_config(path, 'SASAResNet')
    assert cfg.model.neck.type == 'SASAFPN' and cfg.model.bbox_head.type == 'SASARetinaHead'
    assert cfg.model.neck.attn_cfg == dict(kernel_size=7, num_heads=8)
    assert cfg.model.bbox_head.attn_cfg == dict(kernel_size=7, num_heads=8)
    assert cfg.model.backbone.stem_type == ('attention' if '_full_' in path else 'conv')
    assert cfg.train_cfg.max_epochs == 150 and cfg.optim_wrapper.optimizer.lr == 0.12
    # the fixed 640 x 640 pad would dominate the test time
    options = {'model.data_preprocessor.batch_augments': None}
    log_vars = config_loss_pass(path, hw=(64, 64), cfg_options=options)
    assert {'loss_cls', 'loss_bbox'} <= set(log_vars)
    cfg = load_config(path, options)
    model, scope = build_from_config(cfg)
    model.eval()
    data = model.data_preprocessor(_fake_batch(scope, cfg.model, (64, 96), 2), False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    for res in results:
        boxes = res.pred_instances.bboxes
        assert boxes.ndim == 2 and boxes.shape[1] == 4 and torch.isfinite(boxes).all()


def test_paper_config_params_against_the_paper():
    """Table 2: 22.0 M against the baseline's 33.4 M (0.66x); ours 21.37 M / 33.84 M."""
    from mmvit_plugins.utils.complexity import count_params
    base = count_params(build_from_config(load_config(BASELINE))[0])
    for path in CONFIGS:
        model = build_from_config(load_config(path))[0]
        ratio = count_params(model) / base
        assert abs(ratio - 22.0 / 33.4) < 0.03, (path, ratio)
        assert count_params(model.neck) + count_params(model.bbox_head) == pytest.approx(
            5.376e6, rel=1e-3)


def test_toy_all_attention_retinanet_trains_end_to_end(tmp_path):
    # one thread: on a shared 2-core machine two OpenMP threads wait on each other
    out = toy_train_and_test(TOY, tmp_path, 'epoch_1.pth',
                             ['neck.fpn_convs.4.conv.rel_row', 'bbox_head.cls_mix.conv.weight',
                              'bbox_head.reg_convs.0.conv.v_proj.weight'],
                             ['bbox_mAP'], env={'OMP_NUM_THREADS': '1'})
    m_ap = float(re.findall(r'coco/bbox_mAP: (-?[\d.]+)', out)[-1])
    print(f'toy all-attention RetinaNet bbox_mAP: {m_ap}')
    assert m_ap > 0
