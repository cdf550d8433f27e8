"""What is specific to FocalTransformer: its layers, structure rule, options, fast-path
internals and weight handling (the generic backbone behaviour is in test_backbone_contract.py)."""
import pytest
import torch
from utils import max_abs_diff

from mmvit_plugins.models.backbones.focal import FocalBlock, FocalTransformer
from mmvit_plugins.models.layers.focal_attention import (fast_layout, gather_index,
                                                         merged_rolled_keys,
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


def test_conv_embed_shapes():
    model = small(use_conv_embed=True).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert model.patch_embed.proj.kernel_size == (7, 7)
    assert FocalTransformer(arch='tiny-conv').use_conv_embed


def test_out_norm():
    """One output norm per returned stage; ``out_norm=False`` returns the raw stage features
    (the official stage outputs)."""
    x = torch.randn(1, 3, 64, 64)
    part = small(out_indices=(1, -1))
    assert hasattr(part, 'norm1') and hasattr(part, 'norm3') and not hasattr(part, 'norm0')
    bare = small(out_norm=False).eval()
    assert not any(n.startswith('norm') for n, _ in bare.named_parameters())
    normed = small().eval()
    normed.load_state_dict(bare.state_dict(), strict=False)
    with torch.no_grad():
        raw, out = bare(x)[2], normed(x)[2]
    expected = torch.nn.functional.layer_norm(raw.permute(0, 2, 3, 1), (96, ))
    assert max_abs_diff(out, expected.permute(0, 3, 1, 2)) < 1e-5


def test_focal_option_validation():
    assert FocalTransformer(arch=dict(SMALL, use_conv_embed=True)).use_conv_embed
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
    assert at224.stages[3].blocks[0].attn.num_rolled == 0
    assert at256.stages[3].blocks[0].attn.num_rolled == 132
    assert at224.stages[2].blocks[0].attn.num_keys == 49 + 132 + 9
    small_img = FocalTransformer(arch='tiny', pretrain_img_size=160)  # stage 3: 5x5
    assert small_img.stages[3].blocks[0].window_size == 5


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


def test_default_init_is_the_official_one():
    model = small()
    model.init_weights()
    attn = model.stages[0].blocks[0].attn
    assert torch.equal(model.norm0.weight, torch.ones(24))
    assert attn.qkv.weight.std() < 0.05  # trunc_normal(0.02)
    assert not attn.relative_position_bias_table.any()  # official: zeros
    assert 0 < attn.relative_position_bias_table_to_neighbors.std() < 0.05
    assert 0 < attn.relative_position_bias_table_to_windows[0].std() < 0.05
    assert model.stages[0].blocks[0].pool_layers[0].weight.std() < 0.05  # fc pooling too


def test_pretrained_with_larger_focal_windows_resizes_the_pooled_tables(tmp_path):
    """Detection configs use focal_windows (15, 13, 9, 7): the (nH, (ws+fw-1)^2) tables of a
    (7, 5, 3, 1) checkpoint are resized bilinearly, everything else loads unchanged."""
    src = _randomise(small())
    ckpt = tmp_path / 'backbone.pth'
    torch.save({'state_dict': src.state_dict()}, ckpt)
    det = small(focal_windows=(15, 13, 9, 7),
                init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    det.init_weights()
    name = 'stages.0.blocks.0.attn.relative_position_bias_table_to_windows.0'
    old, new = src.state_dict()[name], det.state_dict()[name]
    assert old.shape == (1, 13 * 13) and new.shape == (1, 21 * 21)
    assert abs(new.mean() - old.mean()) < 0.2 * old.std()  # an interpolation, not a re-init
    assert torch.equal(det.stages[1].blocks[1].attn.qkv.weight,
                       src.stages[1].blocks[1].attn.qkv.weight)
    with torch.no_grad():
        assert torch.isfinite(det.eval()(torch.randn(1, 3, 96, 128))[3]).all()


def test_fast_layout_merges_duplicate_keys_and_skips_only_pooled_padding():
    """The fast path's keys (stage 0 of Focal-T at 512x512: a 133x133 padded map) are the
    official ones with the 12 duplicated rolled keys merged, and its CPU chunks leave out
    pooled-padding keys shared by a row of windows, and nothing else."""
    args = (133, 133, 7, 3, 15, 1)
    index, pad_mask = gather_index(*args, torch.device('cpu'))
    merged, window_mask, chunks = fast_layout(*args, 0, 3, torch.float32, torch.device('cpu'))
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
