"""DAT++ backbone unit tests (OpenMMLab style)."""
import pytest
import torch

from mmvit_plugins.converters.dat import classifier_cfg, convert, infer_arch
from mmvit_plugins.models.backbones.dat import DAT, DeformableAttention2d

TINY = dict(stem_channels=16, embed_dims=[16, 32, 64, 128], depths=[2, 2, 2, 2],
            num_heads=[1, 2, 4, 8], num_groups=[1, 1, 2, 4], mlp_ratio=2)


def tiny(**kw):
    return DAT(arch=TINY, **kw)


def randomise(model, std=0.2):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)
    return model


@pytest.mark.parametrize('hw', [(64, 64), (65, 97), (96, 48), (33, 40)])
def test_output_shapes_any_size(hw):
    model = tiny().eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    assert len(outs) == 4
    h, w = hw
    for i, o in enumerate(outs):
        s = 2 ** (i + 2)
        assert o.shape == (1, TINY['embed_dims'][i], -(-h // s), -(-w // s))
        assert torch.isfinite(o).all()


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match='larger than 32'):
        tiny()(torch.randn(1, 3, 32, 64))


def test_out_indices_and_norms():
    model = tiny(out_indices=(1, 3))
    assert hasattr(model, 'norm1') and hasattr(model, 'norm3') and not hasattr(model, 'norm0')
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 128]
    model = tiny(out_indices=-1, out_norm=False)
    assert model.out_indices == (3,)
    assert not any(n.startswith('norm') for n, _ in model.named_children())
    with pytest.raises(ValueError, match='out of range'):
        tiny(out_indices=(4,))


def test_out_norm_normalises_channels():
    model = tiny(out_indices=(2,)).eval()
    with torch.no_grad():
        out, = model(torch.randn(1, 3, 64, 64))
    assert out.mean(1).abs().max() < 1e-4
    assert (out.var(1, unbiased=False) - 1).abs().max() < 1e-2


def test_arch_validation():
    with pytest.raises(ValueError, match='unknown DAT arch'):
        DAT(arch='huge')
    with pytest.raises(ValueError, match=r"missing the keys \['num_groups'\]"):
        DAT(arch={k: v for k, v in TINY.items() if k != 'num_groups'})
    with pytest.raises(ValueError, match='unknown keys'):
        DAT(arch=dict(TINY, window_size=7))
    with pytest.raises(ValueError, match='stage_specs has 1 blocks'):
        DAT(arch=dict(TINY, stage_specs=[['N'], ['N', 'D'], ['N', 'D'], ['D', 'D']]))
    with pytest.raises(ValueError, match="spec 'L'"):
        DAT(arch=dict(TINY, stage_specs=[['L', 'D'], ['N', 'D'], ['N', 'D'], ['D', 'D']]))
    with pytest.raises(ValueError, match='divisible by num_groups'):
        DAT(arch=dict(TINY, num_groups=[1, 1, 3, 4]))
    with pytest.raises(ValueError, match='attn_impl'):
        tiny(attn_impl='flash')
    with pytest.raises(ValueError, match='frozen_stages'):
        tiny(frozen_stages=5)


def test_released_arch_params():
    # official README: 24 / 53 / 93 M (classifier); det backbones have 4 output norms
    expect = dict(tiny=23.963, small=53.127, base=93.691)
    for name, want in expect.items():
        cfg = classifier_cfg(f'dat_{name}')
        model = DAT(**{k: v for k, v in cfg['backbone'].items() if k != 'type'})
        n = sum(p.numel() for p in model.parameters())
        head = (cfg['head']['in_channels'] + 1) * 1000
        assert abs((n + head) / 1e6 - want) < 0.002, (name, n + head)


def test_drop_path_schedule():
    model = tiny(drop_path_rate=0.3)
    rates = [dp.drop_prob if hasattr(dp, 'drop_prob') else 0.
             for s in model.stages for dp in s.drop_path]
    assert rates == pytest.approx(torch.linspace(0, 0.3, 8).tolist())


def test_frozen_stages():
    model = tiny(frozen_stages=2)
    def frozen(m):
        return all(not p.requires_grad for p in m.parameters())
    assert frozen(model.patch_proj) and frozen(model.stages[0]) and frozen(model.stages[1])
    assert frozen(model.norm0) and frozen(model.norm1) and frozen(model.down_projs[0])
    assert not frozen(model.stages[2]) and not frozen(model.down_projs[1])
    model.train()
    assert not model.stages[1].training and model.stages[2].training
    assert frozen(model.stages[1])
    model = tiny(frozen_stages=0)
    assert frozen(model.patch_proj) and not frozen(model.stages[0])


def test_norm_eval_and_train_mode():
    model = tiny(norm_eval=True)
    model.train()
    assert model.training and model.stages[0].training


def test_with_cp_matches_and_backprops():
    torch.manual_seed(0)
    a = randomise(tiny(drop_path_rate=0.)).train()
    b = tiny(with_cp=True).train()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 48, 40)
    loss_a = sum(o.sum() for o in a(x))
    loss_b = sum(o.sum() for o in b(x))
    loss_a.backward()
    loss_b.backward()
    assert torch.allclose(loss_a, loss_b, atol=1e-5)
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        scale = pa.grad.abs().max().item()
        assert (pa.grad - pb.grad).abs().max() <= 1e-5 * scale + 1e-7, n


def test_fast_and_reference_agree_forward_and_backward():
    x = torch.randn(2, 3, 40, 72)
    ref = randomise(tiny(attn_impl='reference'))
    fast = tiny(attn_impl='fast')
    fast.load_state_dict(ref.state_dict())
    w = [torch.randn(o.shape) for o in ref(x)]
    outs = {}
    for name, m in (('ref', ref), ('fast', fast)):
        o = m(x)
        sum((oi * wi).sum() for oi, wi in zip(o, w)).backward()
        outs[name] = [oi.detach() for oi in o]
    for a, b in zip(outs['ref'], outs['fast']):
        assert (a - b).abs().max() < 1e-4
    top = max(p.grad.abs().max().item() for p in ref.parameters())
    for (n, pr), pf in zip(ref.named_parameters(), fast.parameters()):
        scale = pr.grad.abs().max().item()
        assert (pr.grad - pf.grad).abs().max() <= 1e-4 * scale + 1e-6 * top, n
    # the position-bias tables do receive gradient
    assert ref.stages[0].attns[1].rpe_table.grad.abs().sum() > 0


def test_deformable_attention_offset_range_factor_and_grad_to_offsets():
    torch.manual_seed(0)
    for orf in (-1, 2):
        m = DeformableAttention2d(32, 4, 2, 2, 5, (14, 14), offset_range_factor=orf)
        randomise(m)
        x = torch.randn(1, 32, 15, 13)
        outs = []
        for impl in ('reference', 'fast'):
            m.attn_impl = impl
            m.zero_grad()
            y = m(x)
            y.square().sum().backward()
            outs.append((y.detach(), m.conv_offset[3].weight.grad.clone()))
        assert (outs[0][0] - outs[1][0]).abs().max() < 1e-5
        assert torch.allclose(outs[0][1], outs[1][1], rtol=1e-3, atol=1e-5)
        assert outs[0][1].abs().sum() > 0


def test_pretrained_round_trip_and_table_resize(tmp_path):
    src = randomise(tiny(out_indices=(0, 1, 2, 3)))
    path = tmp_path / 'dat.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    dst = tiny(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    dst.init_weights()
    for (n, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert torch.equal(a, b), n
    # an official-style checkpoint for 224 loaded into a model built for 256: tables resized
    big = tiny(img_size=256, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    big.init_weights()
    t = big.stages[0].attns[1].rpe_table
    assert t.shape == (1, 127, 127)
    # full classifier checkpoint via prefix
    torch.save({'state_dict': {'backbone.' + k: v for k, v in src.state_dict().items()}},
               tmp_path / 'cls.pth')
    dst2 = tiny(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'cls.pth'),
                              prefix='backbone.'))
    dst2.init_weights()
    assert torch.equal(dst2.patch_proj[0].weight, src.patch_proj[0].weight)


def test_pretrained_wrong_checkpoint_errors(tmp_path):
    src = tiny()
    # another size
    torch.save(src.state_dict(), tmp_path / 'tiny.pth')
    other = DAT(arch=dict(TINY, embed_dims=[16, 32, 64, 96], num_heads=[1, 2, 4, 4],
                          num_groups=[1, 1, 2, 2]),
                init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'tiny.pth')))
    with pytest.raises(RuntimeError, match='does not fit'):
        other.init_weights()
    # another family
    torch.save({'conv1.weight': torch.zeros(1)}, tmp_path / 'resnet.pth')
    m = tiny(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'resnet.pth')))
    with pytest.raises(ValueError, match='dat2mmvit'):
        m.init_weights()


def test_converter_checks_and_det_checkpoints():
    model = tiny(out_indices=(1, 2, 3))
    sd = model.state_dict()
    # official det/seg layout: norms.i.norm.*, backbone. prefix, neck keys
    det = {}
    for k, v in sd.items():
        if k.startswith('norm'):
            i, rest = k[4], k[6:]
            det[f'backbone.norms.{i}.norm.{rest}'] = v
        else:
            det['backbone.' + k] = v
    det['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    conv = convert({'state_dict': det, 'meta': {}})
    assert set(conv) == {'backbone.' + k for k in sd}
    assert infer_arch(conv) is None
    with pytest.raises(ValueError, match='not a DAT'):
        convert({'layers.0.blocks.0.attn.qkv.weight': torch.zeros(1)})
    v1 = {k: v for k, v in det.items()}
    v1['backbone.patch_proj.0.weight'] = torch.zeros(16, 3, 4, 4)
    with pytest.raises(ValueError, match='DAT v1'):
        convert(v1)
    with pytest.raises(ValueError, match='not DAT\\+\\+'):
        classifier_cfg(dict(OFFICIAL_V1))
    with pytest.raises(ValueError, match='unknown official'):
        classifier_cfg('dat_huge')


OFFICIAL_V1 = dict(dim_stem=96, dims=[96, 192, 384, 768], depths=[2, 2, 6, 2],
                   stage_spec=[['L', 'S'], ['L', 'S'], ['L', 'D'] * 3, ['L', 'D']])


def test_cli_converts_and_rejects(tmp_path):
    from utils import run_tool
    src = randomise(tiny(out_indices=(3,)))
    official = {k.replace('norm3.', 'cls_norm.norm.'): v for k, v in src.state_dict().items()}
    official['cls_head.weight'] = torch.randn(10, 128)
    official['cls_head.bias'] = torch.randn(10)
    torch.save({'model': official}, tmp_path / 'official.pth')
    run_tool(['model_converters/dat2mmvit.py', tmp_path / 'official.pth', tmp_path / 'out.pth'])
    out = torch.load(tmp_path / 'out.pth', weights_only=False)['state_dict']
    assert torch.equal(out['head.fc.weight'], official['cls_head.weight'])
    assert torch.equal(out['backbone.norm3.weight'], official['cls_norm.norm.weight'])
    from mmvit_plugins.converters.common import backbone_only  # what --backbone-only keeps
    bb = backbone_only(out)
    assert 'patch_proj.0.weight' in bb and not any(k.startswith('head') for k in bb)
    torch.save({'model': {'conv1.weight': torch.zeros(1)}}, tmp_path / 'resnet.pth')
    proc = run_tool(['model_converters/dat2mmvit.py', tmp_path / 'resnet.pth',
                     tmp_path / 'x.pth'], check=False)
    assert proc.returncode != 0 and 'not a DAT++' in proc.stderr


def test_per_stage_switches_from_official_kwargs():
    official = dict(dim_stem=16, dims=[16, 32, 64, 128], depths=[2, 2, 2, 2], heads=[1, 2, 4, 8],
                    groups=[1, 1, 2, 4], expansion=2, use_conv_patches=True,
                    stage_spec=[['N', 'D'], ['D', 'N'], ['N', 'D'], ['D', 'D']],
                    strides=[8, 4, 2, 1], offset_range_factor=[-1] * 4, ksizes=[9, 7, 5, 3],
                    nat_ksizes=[7] * 4, use_dwc_mlps=[True] * 4,
                    use_pes=[False, True, True, True], use_lpus=[True, False, True, True])
    bcfg = {k: v for k, v in classifier_cfg(official)['backbone'].items() if k != 'type'}
    ref = DAT(**dict(bcfg, attn_impl='reference', out_indices=(0, 1, 2, 3))).eval()
    keys = ref.state_dict()
    assert 'stages.0.attns.1.rpe_table' not in keys and 'stages.1.attns.0.rpe_table' in keys
    assert 'stages.1.local_perception_units.0.weight' not in keys
    assert 'stages.0.local_perception_units.0.weight' in keys
    fast = DAT(**dict(bcfg, out_indices=(0, 1, 2, 3))).eval()
    fast.load_state_dict(randomise(ref).state_dict())
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        for a, b in zip(ref(x), fast(x)):
            assert (a - b).abs().max() < 1e-4
