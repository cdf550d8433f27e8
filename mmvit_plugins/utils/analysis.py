"""Build a model (or just its backbone) from a config, run it on a synthetic input and time
it, for the analysis tools (get_flops.py, benchmark.py, plot_scaling.py)."""
import ctypes
import resource
import statistics
import time

import torch


def resolve_config_path(path):
    """Accept ``mmdet::swin/xxx.py``-style paths (configs shipped inside an installed
    toolbox) as well as file paths."""
    if '::' not in path:
        return path
    from mmengine.config.utils import _get_external_cfg_base_path, _get_package_and_cfg_path
    from mmengine.utils import get_installed_path
    package, rel = _get_package_and_cfg_path(path)
    return _get_external_cfg_base_path(get_installed_path(package), rel)


def build_model(cfg, backbone_only=False, name='the config'):
    """Build ``cfg.model`` (or only its backbone) the way MMEngine's Runner does, without
    loading pretrained weights and with SyncBN reverted to BN so it runs in one process.

    Returns ``(model, scope)``; the config's ``default_scope`` becomes the current scope.
    ``name`` (the config's path) starts the error for a model without a backbone.
    """
    import mmvit_plugins  # noqa: F401
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope

    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    model_cfg = cfg.model
    if cfg.get('data_preprocessor') is not None:  # the Runner merges a top-level one
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if 'backbone' in model_cfg:
        model_cfg.backbone.pop('pretrained', None)
        model_cfg.backbone.init_cfg = None
    if backbone_only:
        if 'backbone' not in model_cfg:
            raise ValueError(f'{name}: --backbone-only needs a model with a backbone')
        model_cfg = model_cfg.backbone
    return revert_sync_batchnorm(MODELS.build(model_cfg)), scope


def build_for_analysis(config, cfg_options=None, backbone_only=False):
    """Return ``(model, forward_fn, scope)``; ``forward_fn(model, x)`` runs the network.

    Pretrained weights are not loaded (the analysis needs shapes, not values).
    """
    from mmengine.config import Config

    cfg = Config.fromfile(resolve_config_path(config)) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model, scope = build_model(cfg, backbone_only, name=config)
    if backbone_only:
        return model, lambda m, x: m(x), scope

    def forward(m, x):
        h, w = x.shape[-2:]
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                    batch_input_shape=(h, w), scale_factor=(1.0, 1.0))
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmengine.structures import InstanceData
            samples = [DetDataSample(metainfo=meta) for _ in range(x.shape[0])]
            for sample in samples:  # some heads (Sparse R-CNN) unpack them in tensor mode
                sample.gt_instances = InstanceData(bboxes=x.new_zeros(0, 4),
                                                   labels=x.new_zeros(0, dtype=torch.long))
            return m(x, samples, mode='tensor')
        if scope == 'mmseg':
            from mmseg.structures import SegDataSample
            samples = [SegDataSample(metainfo=meta) for _ in range(x.shape[0])]
            return m(x, samples, mode='tensor')
        return m(x, mode='tensor')

    return model, forward, scope


def add_device_argument(parser):
    """``--device cpu|cuda`` (default: cuda where visible) for the analysis tools."""
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        choices=['cpu', 'cuda'], help='default: cuda where a GPU is visible')


def add_shape_argument(parser):
    """``--shape H W`` (or one size for a square input) for the tools that build an input."""
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='input H W (or one size for a square input)')


def check_shape(parser, args):
    """Expand a single ``--shape`` size to ``H W``; exit through ``parser.error`` otherwise."""
    if len(args.shape) == 1:
        args.shape = args.shape * 2
    if len(args.shape) != 2 or min(args.shape) <= 0:
        parser.error('--shape takes H W or a single positive size')


def check_device(parser, device):
    """Exit through ``parser.error`` when ``--device cuda`` is asked for without a GPU."""
    if device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')


def synchronize(device):
    """Wait for the device's queued work (CUDA kernels run asynchronously), before reading a
    clock."""
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def sum_outputs(out):
    """A scalar depending on every tensor of a (nested) model output, for backward passes."""
    if torch.is_tensor(out):
        return out.float().sum()
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        parts = [sum_outputs(o) for o in out]
        parts = [p for p in parts if p is not None]
        return sum(parts) if parts else None
    return None


def peak_rss_mb():
    """Peak resident memory of this process so far (or since :func:`reset_peak_rss`), in MiB
    (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss():
    """Return freed memory to the system and restart the peak resident memory from the
    current one, so that :func:`peak_rss_mb` measures what comes next in this process.

    Returns glibc's free heap pages (``malloc_trim``; PyTorch's CPU allocator does not cache)
    and resets the peak (Linux ``clear_refs``). Returns False where the peak cannot be reset.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def median_ms(step, device, warmup=2, repeat=5):
    """Median wall time of ``step()`` in ms over ``repeat`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def measure(model, forward, x, device, modes=('fwd', 'fwdbwd'), warmup=2, repeat=5, amp=False):
    """Latency and peak memory of the forward pass (no grad) and of the forward+backward pass
    of ``forward(model, x)``, in that order (``model`` in eval mode, on ``device``).

    Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` per phase over what was
    allocated before it; on CPU the growth of the process's peak resident memory
    (:func:`peak_rss_mb`) since the call, so each number is the peak up to the end of its
    phase (call :func:`reset_peak_rss` first to measure several inputs in one process).

    Returns:
        dict: ``{mode: (median ms, images/s, peak MiB)}`` for the requested ``modes``.
    """
    amp_dtype = torch.float16 if device == 'cuda' else torch.bfloat16

    def autocast():
        return torch.autocast(device, dtype=amp_dtype, enabled=amp)

    def fwd():
        with torch.no_grad(), autocast():
            forward(model, x)

    def fwdbwd():
        model.zero_grad(set_to_none=True)
        with autocast():
            loss = sum_outputs(forward(model, x))
        loss.backward()

    result = {}
    base = peak_rss_mb()
    for name, step in (('fwd', fwd), ('fwdbwd', fwdbwd)):
        if name not in modes:
            continue
        if device == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base_cuda = torch.cuda.memory_allocated()
        ms = median_ms(step, device, warmup, repeat)
        if device == 'cuda':
            mem = (torch.cuda.max_memory_allocated() - base_cuda) / 2**20
        else:
            mem = peak_rss_mb() - base
        result[name] = (ms, x.shape[0] * 1000 / ms, mem)
    return result
