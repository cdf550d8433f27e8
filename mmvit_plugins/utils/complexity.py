"""Parameter and FLOP counting with ``torch.utils.flop_counter``.

Counts convolutions, linear layers, every matmul (so attention ``q k^T`` and ``attn v`` are
included, which mmcv's hook-based counter misses) and fused ``scaled_dot_product_attention``.
Element-wise work (softmax, norms, activations, ``grid_sample``) is not counted, as in the
papers.

Conventions: ``macs`` = multiply-adds, which the Focal, Shunted, Swin and DAT papers print as
"FLOPs"; ``flops`` = 2 x ``macs``, the convention of the SASA paper.
"""
import torch
from torch.utils import flop_counter

_CPU_SDPA = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)


def _sdpa_flops(query_shape, key_shape, value_shape):
    """2 x (Nq Nk d + Nq Nk dv) per batch-head: q k^T and attn v."""
    *batch, nq, d = query_shape
    nk, dv = key_shape[-2], value_shape[-1]
    bh = 1
    for b in batch:
        bh *= b
    return 2 * bh * nq * nk * (d + dv)


if _CPU_SDPA is not None and _CPU_SDPA not in flop_counter.flop_registry:
    # torch counts the CUDA SDPA kernels but not the CPU one (torch 2.11).
    @flop_counter.register_flop_formula(_CPU_SDPA)
    def _cpu_sdpa_flop(query, key, value, *args, out_shape=None, **kwargs):
        return _sdpa_flops(query, key, value)

    _CPU_SDPA_BWD = getattr(torch.ops.aten,
                            '_scaled_dot_product_flash_attention_for_cpu_backward', None)
    if _CPU_SDPA_BWD is not None:
        @flop_counter.register_flop_formula(_CPU_SDPA_BWD)
        def _cpu_sdpa_bwd_flop(grad_out, query, key, value, *args, out_shape=None, **kwargs):
            return 2 * _sdpa_flops(query, key, value)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def get_complexity(model, input_shape=(3, 224, 224), forward=None):
    """Params and FLOPs of one forward pass on a ``(1, *input_shape)`` input.

    Args:
        model (nn.Module): the model (put in eval mode here).
        input_shape (tuple): ``(C, H, W)``.
        forward (callable, optional): ``forward(model, x)``; default ``model(x)``.

    Returns:
        dict: ``params``, ``macs`` (multiply-adds), ``flops`` (= 2 macs), ``by_module``
        (``{module name: flops}`` for the top levels).
    """
    model.eval()
    device = next(model.parameters()).device
    x = torch.randn(1, *input_shape, device=device)
    with flop_counter.FlopCounterMode(display=False, depth=2) as counter:
        forward(model, x) if forward is not None else model(x)
    flops = counter.get_total_flops()
    by_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    return dict(params=count_params(model), macs=flops / 2, flops=flops, by_module=by_module)

