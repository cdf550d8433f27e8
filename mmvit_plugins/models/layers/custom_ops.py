"""Autocast declarations and compiler registration for the custom autograd functions.

The CPU kernels of :mod:`.gathered_attention` and :mod:`.separable_bias_attention` are
``torch.autograd.Function`` s with hand-written backward passes. Two things make them behave
like built-in operators:

* **autocast**: :func:`float32_forward` / :func:`autocast_backward` decorate their
  ``forward`` / ``backward`` with ``torch.amp.custom_fwd(cast_inputs=torch.float32)`` /
  ``custom_bwd`` for CPU and CUDA alike: under autocast (fp16 or bf16) the attention runs in
  float32 (its softmax statistics and bias interpolation need it; the surrounding
  projections still run in low precision) and returns float32;
* **torch.compile**: Dynamo cannot trace their chunk loops and host-side planning, so each is
  also registered as a ``torch.library.custom_op`` pair (forward, backward) with
  ``register_autograd`` and ``register_autocast``, which the compiler keeps as one opaque
  call instead of breaking the graph. The op implementations call the same ``forward`` /
  ``backward`` through :class:`FunctionCtx`, so both routes run one code.
"""
import contextlib

import torch

#: device types whose autocast the functions declare (the same float32 policy on each)
AUTOCAST_DEVICES = ('cpu', 'cuda')


def float32_forward(forward):
    """``custom_fwd(device_type=d, cast_inputs=torch.float32)`` for every autocast device."""
    for device in AUTOCAST_DEVICES:
        forward = torch.amp.custom_fwd(forward, device_type=device, cast_inputs=torch.float32)
    return forward


def autocast_backward(backward):
    """``custom_bwd(device_type=d)`` for every autocast device (backward runs with the
    autocast state of its forward: off, since the forward casts its inputs)."""
    for device in AUTOCAST_DEVICES:
        backward = torch.amp.custom_bwd(backward, device_type=device)
    return backward


def register_float32_autocast(op):
    """The custom-op twin of :func:`float32_forward`."""
    for device in AUTOCAST_DEVICES:
        torch.library.register_autocast(op, device, torch.float32)


class FunctionCtx:
    """Stands in for autograd's ``ctx`` when a Function's ``forward`` / ``backward`` run as
    the implementation of a custom op (which records nothing for autograd)."""

    def __init__(self, saved_tensors=(), needs_input_grad=(), **attrs):
        # what custom_fwd records and custom_bwd reads: the op runs outside autocast
        self._fwd_used_autocast, self._dtype = False, torch.float32
        self.saved_tensors = tuple(saved_tensors)
        self.needs_input_grad = tuple(needs_input_grad)
        self.__dict__.update(attrs)

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


@contextlib.contextmanager
def autograd_inside_op():
    """Custom-op kernels run below autograd (its dispatch keys excluded); a kernel that calls
    ``torch.autograd.grad`` itself (the separable attention's backward does, through a
    sliding-window view) turns them back on with this."""
    keys = torch._C.DispatchKey
    exclude = torch._C._dispatch_tls_local_exclude_set()
    for key in (keys.AutogradFunctionality, keys.AutogradOther, keys.AutogradNestedTensor,
                keys.ADInplaceOrView):
        exclude = exclude.remove(key)
    with torch._C._ForceDispatchKeyGuard(torch._C._dispatch_tls_local_include_set(), exclude):
        yield
