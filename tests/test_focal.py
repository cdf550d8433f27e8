"""Unit tests of the FocalTransformer backbone (OpenMMLab style)."""
import pytest
import torch
from utils import check_norm_state, max_abs_diff

from mmvit_plugins.models.backbones.focal import (FocalBlock, FocalTransformer, _fast_layout,
                                                  _gather_index, merged_rolled_keys,
                                                  mixed_relative_index,
                                                  rolled_neighbour_offsets)

SMALL = dict(embed_dims=24, depths=[1, 2, 1, 1], num_heads=[1, 3, 2, 4])


def small(**kwargs):
    kwargs.setdefault('arch', SMALL)
    return FocalTransformer(**kwargs)


def _randomise(model, seed=1):
    """Non-trivial weights so that every parameter (bias tables included) matters."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and 'norm' in name:
                p.normal_(1.0, 0.2)
            elif 'relative_position' in name:
                p.normal_(0.0, 0.5)
            else:
                p.normal_(0.0, 0.2 if p.dim() == 1 else p[0].numel()**-0.5)
    return model


def test_rolled_neighbours_are_the_official_132():
    offsets = rolled_neighbour_offsets(7, 3)
    assert offsets.shape == (132, 2)
    # tl first: the shifted window's bottom rows (rows 7..9 of the 13x13 region), row-major
    assert offsets[0].tolist() == [3, 7] and offsets[32].tolist() == [9, 9]
    unique = {tuple(o) for o in offsets.tolist()}
    assert len(unique) == 120  # 13x13 region minus the 7x7 window; 12 duplicates
    assert all(not (0 <= r < 7 and 0 <= c < 7) for r, c in unique)
    assert all(-3 <= r < 10 and -3 <= c < 10 for r, c in unique)
    # the in-window index equals Swin's (2ws-1)^2 table index
    idx = mixed_relative_index(7, 7)
    assert idx[0, 0] == 6 * 13 + 6 and idx[0, 48] == 0 and idx.max() == 168


@pytest.mark.parametrize('hw', [(64, 64), (65, 97), (96, 40), (224, 224), (30, 30)])
def test_output_shapes_any_input_size(hw):
    model = small().eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, *hw))
    h, w = -(-hw[0] // 4), -(-hw[1] // 4)
    for i, out in enumerate(outs):
        if i:
            h, w = -(-h // 2), -(-w // 2)
        assert out.shape == (2, 24 * 2**i, h, w)
        assert torch.isfinite(out).all()


def test_conv_embed_shapes():
    model = small(use_conv_embed=True).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert model.patch_embed.proj.kernel_size == (7, 7)
    assert FocalTransformer(arch='tiny-conv').use_conv_embed


def test_out_indices_and_out_norm():
    x = torch.randn(1, 3, 64, 64)
    full = small().eval()
    part = small(out_indices=(1, -1)).eval()
    part.load_state_dict(full.state_dict(), strict=False)
    with torch.no_grad():
        ref, outs = full(x), part(x)
    assert len(outs) == 2
    assert torch.equal(outs[0], ref[1]) and torch.equal(outs[1], ref[3])
    assert hasattr(part, 'norm1') and not hasattr(part, 'norm0')
    bare = small(out_norm=False)
    assert not any(n.startswith('norm') for n, _ in bare.named_parameters())
    with pytest.raises(ValueError, match='out_indices'):
        small(out_indices=(4, ))


def test_arch_validation():
    with pytest.raises(ValueError, match="unknown Focal Transformer arch 'huge'.*'tiny'"):
        FocalTransformer(arch='huge')
    with pytest.raises(ValueError, match=r"lacks \['num_heads'\]"):
        FocalTransformer(arch=dict(embed_dims=8, depths=[1, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"unknown keys \['window_size'\]"):
        FocalTransformer(arch=dict(SMALL, window_size=7))
    with pytest.raises(ValueError, match='focal_windows has 3 entries'):
        small(focal_windows=(7, 5, 3))
    with pytest.raises(ValueError, match='not divisible by num_heads'):
        FocalTransformer(arch=dict(SMALL, num_heads=[5, 2, 2, 4]))
    with pytest.raises(ValueError, match='focal_window must be odd'):
        small(focal_windows=(7, 4, 3, 1))
    with pytest.raises(ValueError, match='focal_pool'):
        small(focal_pool='avg')
    with pytest.raises(ValueError, match='expand_layer'):
        small(expand_layer='first')
    with pytest.raises(ValueError, match='too small'):
        small(pretrain_img_size=16)
    with pytest.raises(ValueError, match='attn_impl'):
        small(attn_impl='flash')
    with pytest.raises(ValueError, match='frozen_stages'):
        small(frozen_stages=5)
    with pytest.raises(TypeError):
        small(pretrained=123)


@pytest.mark.parametrize('arch,num_params', [
    # official README / spec 1.9: 28.880 / 51.142 / 89.815 M with the 1000-class head;
    # here without head (768/1024 * 1000 + 1000) and with norm3 = the official final norm
    ('tiny', 28_111_000), ('small', 50_373_000), ('base', 88_790_000)])
def test_official_archs_parameter_counts(arch, num_params):
    model = FocalTransformer(arch=arch, out_indices=(3, ))
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - num_params) < 1000, n


def test_structure_is_derived_from_pretrain_img_size():
    at224 = FocalTransformer(arch='tiny')
    at256 = FocalTransformer(arch='tiny', pretrain_img_size=256)
    # stage 3 is 7x7 at 224: window 7, no expansion; 8x8 at 256: expansion
    assert at224.layers[3].blocks[0].attn.num_rolled == 0
    assert at256.layers[3].blocks[0].attn.num_rolled == 132
    assert at224.layers[2].blocks[0].attn.num_keys == 49 + 132 + 9
    small_img = FocalTransformer(arch='tiny', pretrain_img_size=160)  # stage 3: 5x5
    assert small_img.layers[3].blocks[0].window_size == 5


def test_frozen_stages():
    model = small(frozen_stages=2)

    def frozen(prefixes):
        return all(not p.requires_grad for n, p in model.named_parameters()
                   if n.startswith(prefixes))

    def trainable(prefixes):
        return all(p.requires_grad for n, p in model.named_parameters()
                   if n.startswith(prefixes))

    # already in __init__ (DDP registers parameters before train() is called)
    assert frozen(('patch_embed', 'layers.0', 'norm0', 'layers.1', 'norm1'))
    assert trainable(('layers.2', 'norm2', 'layers.3', 'norm3'))
    model.train()
    assert frozen(('patch_embed', 'layers.1', 'norm1'))
    assert not model.patch_embed.training and not model.layers[1].training
    assert model.layers[2].training and not model.norm0.training
    stem_only = small(frozen_stages=0).train()
    assert all(not p.requires_grad for p in stem_only.patch_embed.parameters())
    assert all(p.requires_grad for p in stem_only.layers[0].parameters())


def test_norm_eval_keeps_batchnorm_in_eval():
    # the backbone has LayerNorms only; norm_eval must not touch them, and must still
    # switch BatchNorm layers (e.g. added by a subclass) to eval
    model = small(norm_eval=True)
    model.extra_bn = torch.nn.BatchNorm2d(4)
    model.train()
    assert not model.extra_bn.training and model.layers[0].training
    model = small(norm_eval=False)
    model.extra_bn = torch.nn.BatchNorm2d(4)
    model.train()
    assert check_norm_state(model.modules(), True)


def test_with_cp_matches_plain_forward_backward():
    x = torch.randn(2, 3, 32, 32)
    plain = _randomise(small(drop_path_rate=0.)).train()
    ckpt = small(drop_path_rate=0., with_cp=True).train()
    ckpt.load_state_dict(plain.state_dict())
    grads = []
    for model in (plain, ckpt):
        outs = model(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert ckpt.layers[0].blocks[0].with_cp and not plain.layers[0].blocks[0].with_cp
    for name, g in grads[0].items():
        assert max_abs_diff(g, grads[1][name]) <= 1e-5, name


def test_drop_path_schedule():
    model = small(drop_path_rate=0.3)
    rates = [blk.drop_path_rate for stage in model.layers for blk in stage.blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.3, 5).tolist())
    model.train()
    x = torch.randn(4, 3, 32, 32)
    assert not torch.equal(model(x)[3], model(x)[3])
    model.eval()
    assert torch.equal(model(x)[3], model(x)[3])


BLOCK_CASES = [
    # dims, heads, window, expand, shift, levels, focal_window, pool, hw, batch
    (16, 1, 7, 3, 0, 2, 7, 'fc', (14, 14), 2),
    (24, 3, 7, 3, 0, 2, 5, 'fc', (17, 23), 1),       # padded map, odd head count
    (16, 2, 7, 3, 0, 2, 15, 'fc', (25, 42), 1),      # detection-style focal window
    (16, 2, 7, 3, 3, 3, 3, 'conv', (21, 28), 2),     # shift + two pooled levels
    (12, 3, 7, 2, 0, 3, 5, 'mean', (9, 30), 1),
    (16, 4, 6, 2, 0, 2, 3, 'max', (12, 13), 1),
    (16, 2, 7, 0, 0, 2, 1, 'fc', (3, 5), 2),         # map smaller than the window
    (16, 2, 7, 3, 0, 1, 1, 'none', (14, 21), 1),     # no pooled level: no padding mask
]


@pytest.mark.parametrize('case', BLOCK_CASES, ids=[str(i) for i in range(len(BLOCK_CASES))])
def test_fast_attention_matches_reference(case):
    """The gather + SDPA path equals the literal official path (rolls, unfold, materialised
    attention), forward and gradients of every parameter, bias tables included."""
    dims, heads, ws, e, shift, levels, fw, pool, hw, batch = case
    blocks = [FocalBlock(dims, heads, ws, e, shift, pool_method=pool, focal_level=levels,
                         focal_window=fw, attn_impl=impl) for impl in ('fast', 'reference')]
    _randomise(blocks[0])
    blocks[1].load_state_dict(blocks[0].state_dict())
    x = torch.randn(batch, *hw, dims, requires_grad=True)
    outs, grads = [], []
    for blk in blocks:
        out = blk(x)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append([x.grad.clone()] + [p.grad.clone() for p in blk.parameters()])
        x.grad = None
    assert max_abs_diff(*outs) <= 1e-5 * max(1.0, outs[1].abs().max().item())
    for a, b in zip(*grads):
        assert max_abs_diff(a, b) <= 1e-4 * max(1.0, b.abs().max().item())


def test_generic_attention_path_matches_reference(monkeypatch):
    """The path CUDA takes (merged keys, one gather + scaled_dot_product_attention, no chunks)
    equals the official computation too."""
    import mmvit_plugins.models.layers.gathered_attention as ga
    monkeypatch.setattr(ga, '_use_chunked', lambda *args: False)
    dims, heads, ws, e, shift, levels, fw, pool, hw, batch = BLOCK_CASES[3]
    blocks = [FocalBlock(dims, heads, ws, e, shift, pool_method=pool, focal_level=levels,
                         focal_window=fw, attn_impl=impl) for impl in ('fast', 'reference')]
    _randomise(blocks[0])
    blocks[1].load_state_dict(blocks[0].state_dict())
    x = torch.randn(batch, *hw, dims)
    outs = [blk(x) for blk in blocks]
    grads = [torch.autograd.grad(out.square().sum(), list(blk.parameters()))
             for out, blk in zip(outs, blocks)]
    assert max_abs_diff(*outs) <= 1e-5 * max(1.0, outs[1].abs().max().item())
    for a, b in zip(*grads):
        assert max_abs_diff(a, b) <= 1e-4 * max(1.0, b.abs().max().item())


def test_backbone_fast_matches_reference():
    x = torch.randn(2, 3, 72, 100)
    fast = _randomise(small(use_shift=True, focal_levels=(3, 2, 2, 2))).eval()
    ref = small(use_shift=True, focal_levels=(3, 2, 2, 2), attn_impl='reference').eval()
    ref.load_state_dict(fast.state_dict())
    with torch.no_grad():
        for a, b in zip(fast(x), ref(x)):
            assert max_abs_diff(a, b) <= 1e-4


def test_init_weights_default_and_pretrained_round_trip(tmp_path):
    model = small()
    model.init_weights()
    attn = model.layers[0].blocks[0].attn
    assert torch.equal(model.norm0.weight, torch.ones(24))
    assert attn.qkv.weight.std() < 0.05  # trunc_normal(0.02)
    assert not attn.relative_position_bias_table.any()  # official: zeros
    assert 0 < attn.relative_position_bias_table_to_neighbors.std() < 0.05
    _randomise(model)
    ckpt = tmp_path / 'backbone.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    loaded = small(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    loaded.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k

    # classifier checkpoint with backbone. prefix
    full = tmp_path / 'classifier.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in model.state_dict().items()}}, full)
    loaded = small(init_cfg=dict(type='Pretrained', checkpoint=str(full), prefix='backbone.'))
    loaded.init_weights()
    assert torch.equal(loaded.layers[2].blocks[0].mlp.fc2.weight,
                       model.layers[2].blocks[0].mlp.fc2.weight)

    # another family: no shared key
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'stages.0.blocks.0.attn.w_msa.qkv.weight': torch.zeros(1)}},
               other)
    with pytest.raises(ValueError, match='shares no parameter name'):
        small(init_cfg=dict(type='Pretrained', checkpoint=str(other))).init_weights()
    # another size of the same family
    with pytest.raises(RuntimeError, match='does not fit'):
        FocalTransformer(arch=dict(SMALL, embed_dims=48),
                         init_cfg=dict(type='Pretrained', checkpoint=str(ckpt))).init_weights()


def test_pretrained_with_larger_focal_windows_resizes_the_pooled_tables(tmp_path):
    """Detection configs use focal_windows (15, 13, 9, 7): the (nH, (ws+fw-1)^2) tables of a
    (7, 5, 3, 1) checkpoint are resized bilinearly, everything else loads unchanged."""
    src = _randomise(small())
    ckpt = tmp_path / 'backbone.pth'
    torch.save({'state_dict': src.state_dict()}, ckpt)
    det = small(focal_windows=(15, 13, 9, 7),
                init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    det.init_weights()
    name = 'layers.0.blocks.0.attn.relative_position_bias_table_to_windows.0'
    old, new = src.state_dict()[name], det.state_dict()[name]
    assert old.shape == (1, 13 * 13) and new.shape == (1, 21 * 21)
    assert abs(new.mean() - old.mean()) < 0.2 * old.std()  # an interpolation, not a re-init
    assert torch.equal(det.layers[1].blocks[1].attn.qkv.weight,
                       src.layers[1].blocks[1].attn.qkv.weight)
    with torch.no_grad():
        assert torch.isfinite(det.eval()(torch.randn(1, 3, 96, 128))[3]).all()


def test_fast_layout_merges_duplicate_keys_and_skips_only_pooled_padding():
    """The fast path's keys (stage 0 of Focal-T at 512x512: a 133x133 padded map) are the
    official ones with the 12 duplicated rolled keys merged, and its CPU chunks leave out
    pooled-padding keys shared by a row of windows, and nothing else."""
    args = (133, 133, 7, 3, 15, 1)
    index, pad_mask = _gather_index(*args, torch.device('cpu'))
    merged, window_mask, chunks = _fast_layout(*args, 0, 3, torch.float32, torch.device('cpu'))
    kept, rounds = merged_rolled_keys(7, 3)
    cols = torch.cat([kept, torch.arange(181, 406)])
    assert merged.shape == (361, 394) and torch.equal(merged, index[:, cols])
    for dup, first in rounds:  # a merged key is the same table row in every window
        assert torch.equal(index[:, dup], merged[:, first])
    assert torch.equal(window_mask, pad_mask[:, cols].unsqueeze(1))
    computed = torch.zeros(merged.shape, dtype=torch.bool)
    for c in chunks:
        assert c.start // 19 == (c.end - 1) // 19
        computed[c.start:c.end, slice(None) if c.cols is None else c.cols] = True
    assert (computed | (window_mask[:, 0] < 0)).all()  # every key left out is padding
    assert (~computed).sum() > 0.15 * merged.numel()  # most of the padding (20%) is left out


def test_merged_position_bias_is_the_softmax_of_the_duplicates():
    """Merging duplicated keys changes no attention output: softmax over the official keys
    (duplicates included) equals softmax over the merged keys, duplicates' weights summed."""
    attn = FocalBlock(8, 2, 7, 2, 0, pool_method='fc', focal_level=2, focal_window=3).attn
    _randomise(attn)
    kept, rounds = merged_rolled_keys(7, 2)
    assert len(kept) == 49 + 72 and len(rounds) >= 1
    full, merged = attn.position_bias(), attn.merged_position_bias()
    assert merged.shape[-1] == full.shape[-1] - sum(len(d) for d, _ in rounds)
    group = torch.zeros(49 + attn.num_rolled, dtype=torch.long)
    group[kept] = torch.arange(len(kept))
    for dup, first in rounds:
        group[dup] = first
    group = torch.cat([group, torch.arange(len(kept), merged.shape[-1])])
    expected = torch.zeros_like(merged).index_add_(-1, group, full.softmax(-1))
    assert max_abs_diff(merged.softmax(-1), expected) < 1e-6
