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


def _inputs_with_dead_keys(per_query_mask=False, typed=False, dtype=torch.float64):
    """Focal-style padding: dead keys point at a zero table row behind a -100 mask (for every
    query of their window); the windows differ in which keys are dead."""
    g = torch.Generator().manual_seed(2)
    batch, heads, windows, length, keys, rows, dims = 2, 3, 9, 5, 12, 30, 4
    q = torch.randn(batch, heads, windows, length, dims, generator=g, dtype=dtype)
    table = torch.randn(batch, heads, rows, 2, dims, generator=g, dtype=dtype)
    table[:, :, -1] = 0  # the zero row
    index = torch.randint(0, rows - 1, (windows, keys), generator=g)
    live = torch.ones(windows, keys, dtype=torch.bool)
    for w in range(windows):  # a trailing run of dead keys of varying length, as at borders
        live[w, keys - (w % 4) * 2:] = False
    index[~live] = rows - 1
    window_bias = torch.zeros(windows, length if per_query_mask else 1, keys, dtype=dtype)
    window_bias.masked_fill_(~live.unsqueeze(1), -100.0)
    if per_query_mask:  # plus a Swin-like mask on some live keys of some queries
        window_bias[1::3, :2, :3] = -100.0
    if typed:
        bias = torch.randn(heads, 3, length, keys, generator=g, dtype=dtype)
        bias_type = torch.arange(windows) % 3
    else:
        bias, bias_type = torch.randn(heads, length, keys, generator=g, dtype=dtype), None
    return q, table, index, bias, window_bias, bias_type, live


@pytest.mark.parametrize('case', ['shared', 'per_query_mask', 'typed', 'store_probs'])
def test_planned_chunks_skip_dead_keys_and_match_reference(case, monkeypatch):
    monkeypatch.setattr(ga, 'CHUNK_LOGITS', 3 * 5 * 12 * 3)  # about three windows a chunk
    q, table, index, bias, window_bias, bias_type, live = _inputs_with_dead_keys(
        per_query_mask=case == 'per_query_mask', typed=case == 'typed')
    plan = ga.plan_chunks(index, live, num_heads=3, queries=5)
    # the plan leaves keys out, and never a key that a window of the chunk can attend to
    assert sum((e - s) * ci.shape[1] for s, e, _, ci in plan.chunks) < index.numel()
    for s, e, cols, chunk_index in plan.chunks:
        kept = (torch.arange(index.shape[1]) if cols is None
                else plan.kept_slots[cols[0]:cols[1]])
        assert chunk_index.tolist() == index[s:e, kept].tolist()
        assert not live[s:e].clone().index_fill_(1, kept, False).any()
    assert [c[0] for c in plan.chunks] == sorted(c[0] for c in plan.chunks)
    assert plan.chunks[0][0] == 0 and plan.chunks[-1][1] == index.shape[0]

    results = []
    for use_plan in (True, False):
        leaves = [t.clone().requires_grad_() for t in (q, table, bias)]
        if use_plan:
            out = gathered_attention(leaves[0], leaves[1], index, leaves[2], window_bias,
                                     bias_type=bias_type, chunks=plan,
                                     store_probs=case == 'store_probs')
        else:
            out = reference_gathered_attention(leaves[0], leaves[1], index, leaves[2],
                                               window_bias, bias_type=bias_type)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)).sum() \
            .backward()
        results.append([out.detach()] + [t.grad for t in leaves])
    for name, a, b in zip(('out', 'q', 'table', 'bias'), *results):
        assert (a - b).abs().max() < 1e-5, name  # the reference's softmax is float32


def test_plan_chunks_checks_its_input():
    index = torch.zeros(4, 6, dtype=torch.long)
    with pytest.raises(ValueError, match='live must be'):
        ga.plan_chunks(index, torch.ones(4, 5, dtype=torch.bool), 2, 3)
    live = torch.ones(4, 6, dtype=torch.bool)
    live[2] = False
    with pytest.raises(ValueError, match='at least one live key'):
        ga.plan_chunks(index, live, 2, 3)


def test_masked_logits_get_exact_zero_probability_in_backward():
    """The backward recomputation flushes probabilities below float32's normal range (the
    fast exp path) to zero: a -100-masked key gets exactly no gradient, as in float32."""
    q, table, index, bias, _ = _inputs(masked=False, dtype=torch.float32)
    window_bias = torch.zeros(7, 5, 11)
    window_bias[:, :, 3] = -100.0
    bias = bias.clone().requires_grad_()
    gathered_attention(q, table, index, bias, window_bias).sum().backward()
    assert (bias.grad[:, :, 3] == 0).all() and (bias.grad[:, :, 4] != 0).all()
