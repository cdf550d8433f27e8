"""Mixed precision (fp16 / bf16 autocast) and torch.compile on every family, small variants
on CPU, and the autocast and compiler registration of the custom autograd functions."""
import os.path as osp
import sys

import pytest
import torch
from test_backbone_contract import ALL, build, randomise
from utils import REPO

from mmvit_plugins.models.layers.gathered_attention import (gathered_attention,
                                                            gathered_attention_op,
                                                            plan_chunks)
from mmvit_plugins.models.layers.separable_bias_attention import (separable_bias_attention,
                                                                  separable_bias_attention_op)

#: relative difference ``||amp - fp32|| / ||fp32||`` allowed for (outputs, gradients) of a
#: training step; measured on these variants: see docs/backbone_contract.md
AMP_TOL = {torch.float16: (5e-3, 5e-2), torch.bfloat16: (5e-2, 1e-1)}


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def train_step(model, x, weights, dtype=None):
    """Forward + backward of a fixed random projection of the outputs under
    ``torch.autocast`` (what mmengine's ``AmpOptimWrapper`` enters, there on CUDA; its own
    ``autocast`` helper allows only bf16 on CPU)."""
    model.zero_grad(set_to_none=True)
    with torch.autocast('cpu', dtype=dtype or torch.float32, enabled=dtype is not None):
        outs = model(x)
    sum((o.float() * w).sum() for o, w in zip(outs, weights)).backward()
    grad = torch.cat([p.grad.flatten().float() for p in model.parameters()])
    return [o.detach() for o in outs], grad


@pytest.mark.parametrize('family', ALL)
def test_autocast_training_is_finite_and_close_to_fp32(family):
    # SASA as its detectors train it, with frozen BatchNorm statistics (norm_eval): the
    # batch-statistics backward cancels to small gradients whose low-precision error is
    # relatively large (mmdet's ResNet-18 shows the same, up to 0.17 in bf16)
    extra = dict(norm_eval=True) if family == 'sasa' else {}
    model = randomise(build(family, drop_path_rate=0.0, **extra))
    model.train()
    x = torch.randn(2, 3, 64, 64)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        weights = [torch.randn(o.shape, generator=g) for o in model(x)]
    ref_out, ref_grad = train_step(model, x, weights)
    for dtype, (out_tol, grad_tol) in AMP_TOL.items():
        out, grad = train_step(model, x, weights, dtype)
        assert all(torch.isfinite(o).all() for o in out), (family, dtype)
        assert torch.isfinite(grad).all(), (family, dtype)
        out_diff = max(rel(o.float(), r) for o, r in zip(out, ref_out))
        grad_diff = rel(grad, ref_grad)
        assert out_diff <= out_tol, (family, dtype, out_diff)
        assert grad_diff <= grad_tol, (family, dtype, grad_diff)


def _gathered_inputs(dtype=torch.float32, requires_grad=True):
    torch.manual_seed(0)
    b, nh, nw, length, d, rows, n = 2, 2, 6, 4, 8, 20, 7
    q = torch.randn(b, nh, nw, length, d, dtype=dtype)
    table = torch.randn(b, nh, rows, 2, d, dtype=dtype)
    bias = torch.randn(nh, length, n, dtype=dtype)
    index = torch.randint(0, rows, (nw, n))
    for t in (q, table, bias):
        t.requires_grad_(requires_grad)
    return q, table, index, bias


def _separable_inputs(dtype=torch.float32):
    torch.manual_seed(0)
    heads, d, h, w, groups = 2, 4, 6, 5, 2
    q = torch.randn(1, heads * d, h, w, dtype=dtype, requires_grad=True)
    k = torch.randn(1, heads * d, 1, 9, dtype=dtype, requires_grad=True)
    v = torch.randn(1, heads * d, 1, 9, dtype=dtype, requires_grad=True)
    table = torch.randn(heads, 2 * h - 1, 2 * w - 1, dtype=dtype, requires_grad=True)
    pos = (torch.rand(groups, 3, 3, 2, dtype=dtype) * 2 - 1).requires_grad_()
    return (q, k, v, table, pos), (d**-0.5, groups)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_custom_functions_run_in_float32_under_autocast(dtype):
    """Both declare custom_fwd(cast_inputs=float32): low-precision inputs, float32 result,
    gradients back in the inputs' dtype, close to the float32 computation."""
    q, table, index, bias = _gathered_inputs()
    ref = gathered_attention(q, table, index, bias)
    low = [t.detach().to(dtype).requires_grad_() for t in (q, table, bias)]
    with torch.autocast('cpu', dtype=dtype):
        out = gathered_attention(low[0], low[1], index, low[2])
    assert out.dtype == torch.float32
    out.sum().backward()
    assert all(t.grad is not None and t.grad.dtype == dtype for t in low)
    assert rel(out.detach(), ref.detach()) < 1e-2

    tensors, args = _separable_inputs()
    ref = separable_bias_attention(*tensors, *args)
    low = [t.detach().to(dtype).requires_grad_() for t in tensors]
    with torch.autocast('cpu', dtype=dtype):
        out = separable_bias_attention(*low, *args)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert all(t.grad is not None and t.grad.dtype == dtype for t in low)
    assert rel(out.detach(), ref.detach()) < 1e-2


def test_train_amp_asks_for_a_gpu_on_cpu():
    sys.path.insert(0, osp.join(REPO, 'tools'))
    import train
    with pytest.raises(SystemExit, match='--amp needs a CUDA GPU'):
        train.main([osp.join(REPO, 'configs/demo/resnet18_toy_cls.py'), '--amp'])


@pytest.mark.parametrize('store_probs', [False, True])
def test_gathered_attention_custom_op_matches_the_function(store_probs):
    """The op the compiler sees and the autograd Function eager mode runs: same values and
    gradients; torch.library.opcheck validates its schema, fake and autograd registration."""
    q, table, index, bias = _gathered_inputs()
    window_bias = torch.zeros(index.shape[0], 1, index.shape[1])
    window_bias[::2, :, -2:] = -100.0
    chunks = plan_chunks(index, 2, 4, window_bias, skippable=window_bias[:, 0] < 0,
                         row_length=3)
    out = gathered_attention(q, table, index, bias, window_bias, chunks=chunks,
                             store_probs=store_probs)
    grads = torch.autograd.grad(out.square().sum(), (q, table, bias))
    from mmvit_plugins.models.layers.gathered_attention import _flatten
    flat = _flatten(chunks)
    op_out = gathered_attention_op(q, table, bias, None, *flat, store_probs)[0]
    op_grads = torch.autograd.grad(op_out.square().sum(), (q, table, bias))
    assert torch.equal(op_out, out)
    for a, b in zip(op_grads, grads):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(gathered_attention_op, (q, table, bias, None, *flat, store_probs),
                          test_utils=('test_schema', 'test_autograd_registration',
                                      'test_faketensor'))


def test_separable_bias_attention_custom_op_matches_the_function():
    tensors, args = _separable_inputs(torch.float64)
    out = separable_bias_attention(*tensors, *args)
    grads = torch.autograd.grad(out.square().sum(), tensors)
    op_out = separable_bias_attention_op(*tensors, *args)[0]
    op_grads = torch.autograd.grad(op_out.square().sum(), tensors)
    assert torch.equal(op_out, out)
    for a, b in zip(op_grads, grads):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(separable_bias_attention_op, (*tensors, *args),
                          test_utils=('test_schema', 'test_autograd_registration',
                                      'test_faketensor'))


def test_compile_without_graph_breaks_matches_eager_and_does_not_recompile():
    """Dynamo captures every small variant whole (fullgraph=True: a graph break is an error),
    forward and backward match eager, and a second call at the same size does not recompile.
    Inductor compiles the two custom ops forward and backward (through AOTAutograd: their
    fake kernels and autograd registration; its generated code checks the sizes and strides
    the fake kernels promise). Inductor on whole backbones: docs/backbone_contract.md."""
    for family in ALL:
        torch._dynamo.reset()
        model = randomise(build(family, drop_path_rate=0.0)).eval()
        x = torch.randn(1, 3, 64, 64)
        compiled = torch.compile(model, backend='eager', fullgraph=True)
        out, want = compiled(x), model(x)
        grads = torch.autograd.grad(sum(o.sum() for o in out), list(model.parameters()))
        want_grads = torch.autograd.grad(sum(o.sum() for o in want), list(model.parameters()))
        for a, b in zip(out + grads, want + want_grads):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        with torch._dynamo.config.patch(error_on_recompile=True):
            compiled(x)
    torch._dynamo.reset()
    q, table, index, bias = _gathered_inputs()
    tensors, args = _separable_inputs()
    for fn, inputs in ((lambda *t: gathered_attention(t[0], t[1], index, t[2]),
                        (q, table, bias)),
                       (lambda *t: separable_bias_attention(*t, *args), tensors)):
        compiled = torch.compile(lambda *t: fn(*t).square().sum(), fullgraph=True)
        got = torch.autograd.grad(compiled(*inputs), inputs)
        want = torch.autograd.grad(fn(*inputs).square().sum(), inputs)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b)
