"""Attention capture (``layers/attention_capture.py``) and the picture tools
``tools/analysis_tools/vis_attention.py`` and ``plot_scaling.py``.

The captured probabilities are checked against an independent computation: the probabilities,
applied to the values at the key positions the capture reports, give the module's output on
its fast path (for Shunted: the softmax of the logits, written out). The tools run in-process
on the toy configs (tiny backbones) and on a generated image.
"""
import csv
import importlib.util
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import mmvit_plugins  # noqa: E402,F401
from mmvit_plugins.models.backbones.focal import FocalBlock  # noqa: E402
from mmvit_plugins.models.backbones.shunted import (ShuntedAttention,  # noqa: E402
                                                    map_to_tokens, tokens_to_map)
from mmvit_plugins.models.layers import (DeformableAttention2d,  # noqa: E402
                                         LocalSelfAttention2d, NeighborhoodAttention2d)
from mmvit_plugins.models.layers.attention_capture import capture_attention  # noqa: E402
from mmvit_plugins.models.layers.focal_attention import gather_index  # noqa: E402
from utils import REPO  # noqa: E402

TOY = {
    'focal': 'configs/focal/toy/mask_rcnn_focal_toy_coco.py',  # detector
    'shunted': 'configs/shunted/toy/segformer_shunted_toy_ade20k.py',  # segmentor
    'dat': 'configs/dat/toy/fpn_dat_toy_ade20k.py',  # segmentor
    'sasa': 'configs/sasa/toy/retinanet_sasa_toy_coco.py',  # detector
}


def _tool(name):
    path = osp.join(REPO, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _close(a, b, tol=1e-5):
    return (a.double() - b.double()).abs().max().item() < tol


# --------------------------------------------------------------------------- capture
@pytest.mark.parametrize('shift', [0, 2])
def test_focal_capture(shift):
    """Focal: the probabilities over the reported keys (in-window, rolled neighbours, pooled
    sub-windows) reproduce the fast path; every pooled key's box is the region it pools."""
    block = FocalBlock(16, 2, window_size=4, expand_size=1, shift_size=shift,
                       pool_method='mean', focal_level=3, focal_window=3).eval()
    attn = block.attn
    x = torch.randn(2, 10, 13, 16)  # padded to 12 x 16: 3 x 4 windows
    y = F.pad(block.norm1(x), (0, 0, 0, 3, 0, 2))
    if shift:
        y = torch.roll(y, (-shift, -shift), (1, 2))
    pooled = [block._pool(y, k) for k in range(len(block.pool_sizes))]
    with torch.no_grad():
        expected = attn(y, pooled, shift)  # the fast path
        with capture_attention(block) as records:
            block(x)
    assert attn.attn_impl == 'fast'  # restored
    (rec, ) = records
    assert rec.kind == 'focal' and rec.name == 'attn' and rec.map_size == (12, 16)
    probs = rec.probs[0]  # (B * nW, nH, ws^2, N)
    assert probs.shape == (2 * 12, 2, 16, attn.num_keys)
    assert _close(probs.sum(-1), torch.ones(()))
    c, nh, hd = 16, 2, 8
    index, _ = gather_index(12, 16, 4, 1, 3, 2, torch.device('cpu'))
    w_v, b_v = attn.qkv.weight[2 * c:], attn.qkv.bias[2 * c:]
    rows = [y.reshape(2, -1, c)] + [p.reshape(2, -1, c) for p in pooled]
    feats = torch.cat(rows + [y.new_zeros(2, 1, c)], 1)  # [map | pooled | zero row]
    values = torch.cat([F.linear(r, w_v, b_v) for r in rows] + [y.new_zeros(2, 1, c)], 1)
    v = values[:, index].view(2, 12, -1, nh, hd)  # (B, nW, N, nH, hd)
    out = torch.einsum('bwhqn,bwnhd->bwqhd', probs.view(2, 12, nh, 16, -1), v)
    windows = expected.view(2, 3, 4, 4, 4, nh, hd).permute(0, 1, 3, 2, 4, 5, 6)
    assert _close(out, windows.reshape(2, 12, 16, nh, hd))
    # the boxes: a fine key is its token, a pooled key the mean of its box (pool 'mean')
    boxes, valid = rec.geometry['key_boxes'], rec.geometry['key_valid']
    unrolled = torch.roll(y, (shift, shift), (1, 2)) if shift else y
    assert valid.any() and not valid.all()  # pooled padding at the borders
    for w in (0, 5, 11):
        for n in range(0, index.shape[1], 3):
            if not valid[w, n]:
                assert index[w, n] == feats.shape[1] - 1
                continue
            y0, x0, y1, x1 = boxes[w, n].tolist()
            region = unrolled[0].roll((-y0, -x0), (0, 1))[:y1 - y0, :x1 - x0]  # wraps
            assert _close(region.mean((0, 1)), feats[0, index[w, n]]), (w, n)
    views = rec.query(5, 9)
    assert [v.label.split(':')[0] for v in views] == ['level 0', 'level 1', 'level 2']
    assert _close(sum(v.weights.sum(1) for v in views), torch.ones(nh))


@pytest.mark.parametrize('sr_ratio', [4, 1])
def test_shunted_capture(sr_ratio):
    """Shunted: each head group's probabilities are the softmax of its queries against the
    keys of its aggregated tokens, computed here from the weights."""
    attn = ShuntedAttention(16, 4, sr_ratio=sr_ratio).eval()
    hw = (9, 13)
    x = torch.randn(2, hw[0] * hw[1], 16)
    with torch.no_grad():
        expected = attn(x, hw)
        with capture_attention(attn) as records:
            out = attn(x, hw)
    assert _close(out, expected, 1e-4)
    (rec, ) = records
    q = attn.q(x).view(2, -1, 4, 4).transpose(1, 2)
    with torch.no_grad():
        if sr_ratio == 1:
            keys = [(attn.kv(x)[..., :16], range(4))]
        else:
            x_map = tokens_to_map(x, hw)
            keys = []
            for g, (sr, norm, kv) in enumerate(((attn.sr1, attn.norm1, attn.kv1),
                                                (attn.sr2, attn.norm2, attn.kv2))):
                agg = attn.act(norm(map_to_tokens(sr(x_map))))
                keys.append((kv(agg)[..., :8], range(2 * g, 2 * g + 2)))
    assert len(rec.probs) == len(keys) == len(rec.geometry['groups'])
    for probs, (k, heads), group in zip(rec.probs, keys, rec.geometry['groups']):
        k = k.view(2, -1, len(heads), 4).transpose(1, 2)
        ref = (q[:, list(heads)] @ k.transpose(-2, -1) * attn.scale).softmax(-1)
        assert _close(probs, ref)
        assert group['heads'] == list(heads)
        assert group['grid'][0] * group['grid'][1] == k.shape[2]
    views = rec.query(8, 12)
    assert all(_close(v.weights.sum(1), torch.ones(())) for v in views)


def test_deformable_capture():
    """DAT++ D block: the probabilities over the values sampled at the reported positions
    reproduce the fast path."""
    attn = DeformableAttention2d(16, 4, 2, stride=2, offset_kernel_size=3, q_size=(8, 8)).eval()
    x = torch.randn(2, 16, 9, 11)
    with torch.no_grad():
        expected = attn(x)
        with capture_attention(attn) as records:
            attn(x)
    (rec, ) = records
    probs, pos = rec.probs[0], rec.geometry['positions']  # (B, nH, HW, Ns), (B, G, Hk, Wk, 2)
    assert probs.shape == (2, 4, 99, 5 * 6) and pos.shape == (2, 2, 5, 6, 2)
    assert _close(probs.sum(-1), torch.ones(()))
    assert (pos >= 0).all() and (pos[..., 0] <= 8).all() and (pos[..., 1] <= 10).all()
    grid = pos / torch.tensor([8., 10.]) * 2 - 1  # back to grid_sample coordinates
    with torch.no_grad():
        sampled = F.grid_sample(x.reshape(4, 8, 9, 11), grid.reshape(4, 5, 6, 2).flip(-1),
                                align_corners=True).reshape(2, 16, 1, 30)
        v = attn.proj_v(sampled).reshape(2, 4, 4, 30)
        out = torch.einsum('bhmn,bhcn->bhcm', probs, v).reshape(2, 16, 9, 11)
        assert _close(attn.proj_out(out), expected)
    views = rec.query(4, 5, batch=1)
    assert [v.heads for v in views] == [[0, 1], [2, 3]]
    assert views[1].points.shape == views[1].references.shape == (30, 2)


def test_neighborhood_and_local_capture():
    """DAT++ N block and SASA: the probabilities over the values at the reported window
    positions (zero outside the map, SASA's zero border) reproduce the fast path."""
    na = NeighborhoodAttention2d(16, 2, kernel_size=5).eval()
    x = torch.randn(1, 16, 9, 12)
    with torch.no_grad():
        expected = na(x)
        with capture_attention(na) as records:
            na(x)
        probs = records[0].probs[0]  # (B, nH, H, W, K*K)
        assert probs.shape == (1, 2, 9, 12, 25) and _close(probs.sum(-1), torch.ones(()))
        v = na.qkv(x.permute(0, 2, 3, 1))[..., 32:].view(1, 9, 12, 2, 8)
        out = torch.zeros(1, 9, 12, 2, 8)
        for qy in range(9):
            for qx in range(12):
                (view, ) = records[0].query(qy, qx)
                keys = v[0, view.boxes[:, 0], view.boxes[:, 1]]  # (K*K, nH, d)
                assert (view.boxes[:, 2:] - view.boxes[:, :2] == 1).all()
                out[0, qy, qx] = torch.einsum('hn,nhd->hd', view.weights, keys)
        assert _close(na.proj(out.view(1, 9, 12, 16)).permute(0, 3, 1, 2), expected)

    for border in ('zero', 'mask'):
        sasa = LocalSelfAttention2d(8, 16, kernel_size=5, num_heads=4, border=border).eval()
        x = torch.randn(1, 8, 7, 9)
        with torch.no_grad():
            expected = sasa(x)
            with capture_attention(sasa) as records:
                sasa(x)
            assert sasa.impl == 'fast'
            probs = records[0].probs[0]  # (B, nH, k*k, H, W)
            assert _close(probs.sum(2), torch.ones(()))
            v = F.pad(sasa.v_proj(x).view(1, 4, 4, 7, 9), (2, 2, 2, 2))  # zero keys outside
            for qy, qx in ((0, 0), (3, 4), (6, 8)):
                (view, ) = records[0].query(qy, qx)
                keys = v[0, :, :, view.boxes[:, 0] + 2, view.boxes[:, 1] + 2]  # (nH, d, k*k)
                out = torch.einsum('hn,hdn->hd', view.weights, keys).reshape(16)
                assert _close(out, expected[0, :, qy, qx])
                outside = (view.boxes[:, :2] < 0).any(1) | (view.boxes[:, 0] >= 7) | \
                    (view.boxes[:, 1] >= 9)
                if border == 'mask':
                    assert (view.weights[:, outside] == 0).all()


def test_capture_errors():
    sasa = LocalSelfAttention2d(8, 16, kernel_size=3, num_heads=2)
    with pytest.raises(ValueError, match='no attention module'):
        with capture_attention(torch.nn.Conv2d(3, 3, 1)):
            pass
    with pytest.raises(ValueError, match=r"\['nope'\] are not attention modules"):
        with capture_attention(torch.nn.Sequential(sasa), names=['nope']):
            pass
    with torch.no_grad(), capture_attention(torch.nn.Sequential(sasa), names=['0']) as records:
        sasa(torch.randn(1, 8, 4, 5))
    assert records[0].name == '0'
    with pytest.raises(ValueError, match=r'query \(4, 0\) is outside the 4x5 map'):
        records[0].query(4, 0)


# --------------------------------------------------------------------------- vis_attention
@pytest.fixture(scope='module')
def image(tmp_path_factory):
    """A 150 x 200 picture with shapes and a gradient."""
    import cv2
    img = np.zeros((150, 200, 3), np.uint8)
    img[:] = np.linspace(40, 160, 200, dtype=np.uint8)[None, :, None]
    cv2.circle(img, (60, 50), 30, (20, 200, 240), -1)
    cv2.rectangle(img, (110, 70), (180, 130), (200, 60, 40), -1)
    path = str(tmp_path_factory.mktemp('img') / 'shapes.png')
    cv2.imwrite(path, img)
    return path


def _check_png(path, height, width):
    pixels = mpimg.imread(path)[..., :3]
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.05  # not blank
    return pixels


@pytest.mark.parametrize('family,extra,columns', [
    ('focal', [], 2),  # level 0 and the pooled level
    ('shunted', [], 2),  # the two head groups of stage 1 (sr 4)
    ('dat', [], 1),  # stage 1's D block, one offset group
    ('dat', ['--block', '0', '--head', '1'], 1),  # its N block
    ('sasa', ['--query', '20', '180', '100', '40'], 4),  # one panel per head
])
def test_vis_attention_families(family, extra, columns, image, tmp_path):
    vis = _tool('vis_attention')
    out = str(tmp_path / 'attn.png')
    h, w = vis.main([osp.join(REPO, TOY[family]), '--img', image, '--out', out,
                     '--panel-size', '128', '--device', 'cpu'] + extra)
    rows = 2 if '--query' in extra else len(vis.DEFAULT_QUERIES)
    assert (h, w) == (rows * 128 + vis.HEADER_PX, columns * 128)
    _check_png(out, h, w)


def test_vis_attention_classifier_and_checkpoint(image, tmp_path):
    """A classifier config (the 224 centre crop of its test pipeline) with a tiny arch, and a
    checkpoint of the model that changes the picture."""
    vis = _tool('vis_attention')
    cfg = str(tmp_path / 'tiny_shunted_cls.py')
    with open(cfg, 'w') as f:
        f.write(f"_base_ = ['{osp.join(REPO, 'configs/shunted/shunted_t_in1k.py')}']\n"
                "model = dict(backbone=dict(arch=dict(\n"
                "    _delete_=True, embed_dims=[16, 32, 32, 32], depths=[1, 1, 1, 1],\n"
                "    num_heads=[2, 2, 2, 2], mlp_ratios=[2, 2, 2, 2], sr_ratios=[8, 4, 2, 1],\n"
                "    num_conv=0)))\n")
    args = ['--img', image, '--panel-size', '96', '--stage', '2', '--query', '75', '100',
            '--device', 'cpu']
    size = vis.main([cfg, '--out', str(tmp_path / 'random.png')] + args)
    assert size == (96 + vis.HEADER_PX, 2 * 96)
    from mmengine.config import Config
    backbone = vis.build_backbone(Config.fromfile(cfg), None, cfg)
    for p in backbone.parameters():  # something else than the random initialisation
        p.data.uniform_(-0.2, 0.2)
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()}},
               ckpt)
    vis.main([cfg, ckpt, '--out', str(tmp_path / 'loaded.png')] + args)
    a = _check_png(str(tmp_path / 'random.png'), *size)
    b = _check_png(str(tmp_path / 'loaded.png'), *size)
    assert np.abs(a - b).max() > 0.1


def test_vis_attention_bad_arguments(image, tmp_path, capsys):
    vis = _tool('vis_attention')
    cfg = osp.join(REPO, TOY['dat'])
    base = [cfg, '--img', image, '--out', str(tmp_path / 'x.png'), '--device', 'cpu']
    with pytest.raises(SystemExit):
        vis.main([cfg, '--img', str(tmp_path / 'missing.jpg'), '--out', 'x.png'])
    assert 'missing.jpg: no such image file' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        vis.main(base + ['--query', '10', '20', '30'])
    assert '--query takes row/column pairs' in capsys.readouterr().err
    with pytest.raises(ValueError, match=r'--stage 4 is out of range: DAT has 4 stages \(0..3\)'):
        vis.main(base + ['--stage', '4'])
    with pytest.raises(ValueError, match=r'--block 2 is out of range: stage 1 has 2 blocks'):
        vis.main(base + ['--block', '2'])
    with pytest.raises(ValueError, match=r'--query 400 20 is outside the network input'):
        vis.main(base + ['--query', '400', '20'])
    with pytest.raises(ValueError, match=r'--head 2 is out of range: .* has 2 heads \(0..1\)'):
        vis.main(base + ['--head', '2'])
    with pytest.raises(ValueError, match='the backbone is ResNet; this tool draws'):
        vis.main([osp.join(REPO, 'configs/demo/resnet18_toy_cls.py')] + base[1:])


# --------------------------------------------------------------------------- plot_scaling
def test_plot_scaling(tmp_path):
    """Every family's toy backbone and mmdet's ResNet-50, two sides, both passes."""
    tool = _tool('plot_scaling')
    out = str(tmp_path / 'scaling.png')
    models = [f'{fam}={osp.join(REPO, cfg)}' for fam, cfg in TOY.items()] + ['R-50']
    rows = tool.main(['--models'] + models + ['--sides', '64', '96', '--repeat', '1',
                                              '--warmup', '0', '--device', 'cpu', '--out', out])
    assert len(rows) == 5 * 2 * 2 and not any(r['error'] for r in rows)
    assert all(r['latency_ms'] > 0 for r in rows)
    with open(str(tmp_path / 'scaling.csv')) as f:
        saved = list(csv.DictReader(f))
    assert [r['model'] for r in saved] == [r['model'] for r in rows]
    assert {(r['side'], r['width'], r['mode']) for r in saved} == {
        (s, s, m) for s in ('64', '96') for m in ('fwd', 'fwdbwd')}
    _check_png(out, 700, 1300)
    assert tool.slope([2, 4, 8], [3., 12., 48.]) == pytest.approx(2.0)
    assert tool.slope([2, 4], [3., float('nan')]) is None


def test_plot_scaling_bad_arguments(capsys):
    tool = _tool('plot_scaling')
    for argv, message in ((['--models', 'Nope'], "unknown model 'Nope'"),
                          (['--models', 'x=missing.py'], 'config missing.py does not exist'),
                          (['--sides', '256'], '--sides needs at least two')):
        with pytest.raises(SystemExit):
            tool.main(argv)
        assert message in capsys.readouterr().err
