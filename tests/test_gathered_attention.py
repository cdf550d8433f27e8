"""gathered_attention: the chunked CPU path and the generic (SDPA) path agree with the plain
formula, forward and gradients (queries, table, shared bias), with and without window masks."""
import pytest
import torch

import mmvit_plugins.models.layers.gathered_attention as ga
from mmvit_plugins.models.layers.gathered_attention import (gathered_attention,
                                                            reference_gathered_attention)


def _inputs(batch=2, heads=3, windows=7, length=5, keys=11, rows=23, dims=4, masked=True,
            dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(batch, heads, windows, length, dims, generator=g, dtype=dtype)
    table = torch.randn(batch, heads, rows, 2, dims, generator=g, dtype=dtype)
    # duplicated rows inside a window (as Focal's rolled neighbours have)
    index = torch.randint(0, rows, (windows, keys), generator=g)
    index[:, 1] = index[:, 0]
    bias = torch.randn(heads, length, keys, generator=g, dtype=dtype)
    window_bias = None
    if masked:
        window_bias = torch.zeros(windows, 1, keys, dtype=dtype)
        window_bias[::2, :, -3:] = -100.0
    return q, table, index, bias, window_bias


def _grads(fn, q, table, index, bias, window_bias):
    leaves = [t.clone().requires_grad_() for t in (q, table, bias)]
    out = fn(leaves[0], leaves[1], index, leaves[2], window_bias)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)
    (out * weights).sum().backward()
    return [out.detach()] + [t.grad for t in leaves]


@pytest.mark.parametrize('store_probs', [False, True])
@pytest.mark.parametrize('masked', [False, True])
@pytest.mark.parametrize('chunk_logits', [1, 1 << 20])  # one window per chunk / all at once
def test_chunked_cpu_path_matches_reference(masked, chunk_logits, store_probs, monkeypatch):
    monkeypatch.setattr(ga, 'CHUNK_LOGITS', chunk_logits)
    inputs = _inputs(masked=masked)
    assert ga._use_chunked(inputs[0], inputs[1], inputs[3], 0.0, False)

    def fast_fn(*args):
        return gathered_attention(*args, store_probs=store_probs)

    fast = _grads(fast_fn, *inputs)
    ref = _grads(reference_gathered_attention, *inputs)
    for name, a, b in zip(('out', 'q', 'table', 'bias'), fast, ref):
        assert (a - b).abs().max() < 1e-5, name  # fused kernels: float-level exp


def test_generic_path_matches_reference(monkeypatch):
    """The path used on CUDA (one gather + scaled_dot_product_attention)."""
    monkeypatch.setattr(ga, '_use_chunked', lambda *args: False)
    inputs = _inputs()
    fast = _grads(gathered_attention, *inputs)
    ref = _grads(reference_gathered_attention, *inputs)
    for name, a, b in zip(('out', 'q', 'table', 'bias'), fast, ref):
        assert (a - b).abs().max() < 1e-5, name  # fused kernels: float-level exp


def test_float32_chunked_path():
    inputs = _inputs(dtype=torch.float32)
    fast = _grads(gathered_attention, *inputs)
    ref = _grads(reference_gathered_attention, *inputs)
    for name, a, b in zip(('out', 'q', 'table', 'bias'), fast, ref):
        assert (a - b).abs().max() < 1e-5, name


@pytest.mark.parametrize('store_probs', [False, True])
@pytest.mark.parametrize('chunk_logits', [1, 1 << 20])
def test_typed_bias_with_infinite_mask(chunk_logits, store_probs, monkeypatch):
    """Per-window bias types (neighbourhood-attention tiles) with -inf outside each query's
    keys: outputs and the gradient of every type's bias match the plain formula."""
    monkeypatch.setattr(ga, 'CHUNK_LOGITS', chunk_logits)
    q, table, index, _, _ = _inputs(masked=False, dtype=torch.float32)
    g = torch.Generator().manual_seed(1)
    types = torch.tensor([0, 1, 2, 1, 0, 2, 2])
    bias = torch.randn(3, 3, 5, 11, generator=g)
    bias[:, 1, :, :4] = float('-inf')  # every query keeps at least 7 keys
    bias[:, 2, 0, 5:] = float('-inf')

    def run(fn, leaves):
        if fn is gathered_attention:
            return fn(leaves[0], leaves[1], index, leaves[2], bias_type=types,
                      store_probs=store_probs)
        return fn(leaves[0], leaves[1], index, leaves[2], bias_type=types)

    results = []
    for fn in (gathered_attention, reference_gathered_attention):
        leaves = [t.clone().requires_grad_() for t in (q, table, bias)]
        out = run(fn, leaves)
        (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
        results.append([out.detach()] + [t.grad for t in leaves])
    for name, a, b in zip(('out', 'q', 'table', 'bias'), *results):
        assert torch.isfinite(a).all(), name
        assert (a - b).abs().max() < 1e-5, name
    # the masked entries get no gradient
    assert (results[0][3][:, 1, :, :4] == 0).all()


def test_bias_shape_and_type_must_agree():
    q, table, index, bias, _ = _inputs(masked=False)
    with pytest.raises(ValueError, match='bias_type'):
        gathered_attention(q, table, index, bias.unsqueeze(1))


def test_masked_logits_get_exact_zero_probability_in_backward():
    """The backward recomputation flushes probabilities below float32's normal range (the
    fast exp path) to zero: a -100-masked key gets exactly no gradient, as a -inf mask would."""
    q, table, index, bias, _ = _inputs(masked=False, dtype=torch.float32)
    window_bias = torch.zeros(7, 5, 11)
    window_bias[:, :, 3] = -100.0
    bias = bias.clone().requires_grad_()
    gathered_attention(q, table, index, bias, window_bias).sum().backward()
    assert (bias.grad[:, :, 3] == 0).all() and (bias.grad[:, :, 4] != 0).all()


def _padded_inputs(windows=12, keys=10, rows=30, dtype=torch.float64):
    """Inputs whose last table row is zero, and keys pointing at it behind -100 (padding):
    each window has its own set of padding keys, some shared with its neighbours."""
    q, table, index, bias, _ = _inputs(windows=windows, keys=keys, rows=rows, masked=False,
                                       dtype=dtype)
    table[:, :, -1] = 0
    # as Focal's border windows: padding shared by a row of windows (the last keys in the
    # first row, keys 5-6 in the third) plus some of each window's own
    g = torch.Generator().manual_seed(2)
    skippable = torch.rand(windows, keys, generator=g) < 0.2
    skippable[:4, 7:] = True
    skippable[8:, 5:7] = True
    skippable[:, 0] = False  # every window keeps a key
    skippable[5] = False  # a window without padding
    index = index.clamp(max=rows - 2).masked_fill(skippable, rows - 1)
    window_bias = torch.zeros(windows, 1, keys, dtype=dtype).masked_fill(
        skippable.unsqueeze(1), -100.0)
    return q, table, index, bias, window_bias, skippable


@pytest.mark.parametrize('chunk_logits', [1, 150, 1 << 20])
def test_chunks_that_skip_padding_match_reference(chunk_logits, monkeypatch):
    """Chunks from plan_chunks leave out padding keys (zero key and value behind -100):
    outputs and gradients equal the formula over every key."""
    monkeypatch.setattr(ga, 'CHUNK_LOGITS', chunk_logits)
    q, table, index, bias, window_bias, skippable = _padded_inputs()
    chunks = ga.plan_chunks(index, 3, 5, window_bias, skippable, row_length=4)
    if chunk_logits > 1:  # (one window per chunk keeps only its own keys)
        assert any(c.cols is not None for c in chunks)
    assert sum((c.end - c.start) * c.index.shape[1] for c in chunks) < index.numel()

    def fast_fn(*args):
        return gathered_attention(*args, chunks=chunks)

    fast = _grads(fast_fn, q, table, index, bias, window_bias)
    ref = _grads(reference_gathered_attention, q, table, index, bias, window_bias)
    for name, a, b in zip(('out', 'q', 'table', 'bias'), fast, ref):
        assert (a - b).abs().max() < 1e-5, name


def test_plan_chunks_keeps_every_key_some_window_needs():
    _, _, index, _, window_bias, skippable = _padded_inputs()
    chunks = ga.plan_chunks(index, 3, 5, window_bias, skippable, row_length=4)
    assert chunks[0].start == 0 and chunks[-1].end == 12
    for a, b in zip(chunks, chunks[1:]):
        assert a.end == b.start
    for c in chunks:
        assert c.start // 4 == (c.end - 1) // 4  # within one window row
        needed = (~skippable[c.start:c.end]).any(0)
        cols = torch.arange(10) if c.cols is None else c.cols
        assert needed.nonzero().view(-1).tolist() == cols.tolist()
        assert torch.equal(c.index, index[c.start:c.end, cols])
        wb = window_bias[c.start:c.end, :, cols]
        assert (c.window_bias is None and not wb.any()) or torch.equal(c.window_bias, wb)


def test_plan_and_chunk_validation():
    q, table, index, bias, window_bias, skippable = _padded_inputs()
    with pytest.raises(ValueError, match='skippable must be'):
        ga.plan_chunks(index, 3, 5, window_bias, skippable[:, :5])
    with pytest.raises(ValueError, match='at least one key'):
        ga.plan_chunks(index, 3, 5, window_bias, torch.ones_like(skippable))
    chunks = ga.plan_chunks(index, 3, 5, window_bias, skippable, row_length=4)
    for wrong in (chunks[1:], chunks[:-1], chunks[:1] + chunks[2:], []):
        with pytest.raises(ValueError, match='cover the 12 windows'):
            gathered_attention(q, table, index, bias, window_bias, chunks=wrong)
    with pytest.raises(ValueError, match='without bias_type'):
        gathered_attention(q, table, index, bias.unsqueeze(1), window_bias,
                           bias_type=torch.zeros(12, dtype=torch.long), chunks=chunks)
