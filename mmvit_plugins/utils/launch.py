"""What tools/train.py and tools/test.py share: environment set-up, CPU distributed runs,
and checks that turn a missing dataset or a wrong checkpoint into a clear message."""
import os.path as osp
import sys

from ..datasets.toy import missing_data_message


def setup_cpu_distributed(cfg, launcher):
    """Let ``--launcher pytorch`` work without GPUs (gloo backend, DDP without device ids).

    MMEngine 0.10.7 calls ``torch.cuda.set_device`` while initialising and wraps the model
    with ``device_ids=[LOCAL_RANK]``; both fail on a CPU-only machine. Initialising the gloo
    process group here makes the Runner skip its own initialisation.
    """
    import torch
    import torch.distributed as dist
    if launcher == 'none' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))


def _dataset_cfgs(cfg):
    """Yield ``(dataloader name, dataset cfg)`` for every dataset in the config, unwrapping
    RepeatDataset / ClassBalancedDataset / ConcatDataset wrappers."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader or 'dataset' not in loader:
            continue
        stack = [loader['dataset']]
        while stack:
            ds = stack.pop()
            if 'dataset' in ds:
                stack.append(ds['dataset'])
            elif 'datasets' in ds:
                stack.extend(ds['datasets'])
            else:
                yield name, ds


def dataset_paths(cfg, which=('train_dataloader', 'val_dataloader', 'test_dataloader')):
    """The files and folders the config's datasets read."""
    paths = []
    for name, ds in _dataset_cfgs(cfg):
        if name not in which:
            continue
        root = ds.get('data_root') or ''
        if ds.get('ann_file'):
            paths.append(osp.join(root, ds['ann_file']))
        prefix = ds.get('data_prefix')
        values = prefix.values() if isinstance(prefix, dict) else [prefix] if prefix else []
        paths.extend(osp.join(root, v) for v in values if isinstance(v, str) and v)
        if not ds.get('ann_file') and not values and root:
            paths.append(root)
    return paths


def check_dataset_paths(cfg, which):
    """Raise ``FileNotFoundError`` naming the first missing dataset path and its fix."""
    for path in dataset_paths(cfg, which):
        if path.startswith(('s3:', 'http:', 'https:')) or '{' in path:
            continue
        if not osp.exists(path):
            raise FileNotFoundError(missing_data_message(path))


def check_checkpoint_matches(model, checkpoint):
    """Raise ``ValueError`` when ``checkpoint`` cannot be this model's weights.

    MMEngine loads test checkpoints with ``strict=False`` and only logs what does not fit,
    so a checkpoint of another model, or of another size of the same model (fewer blocks),
    would be evaluated with partly random weights. This refuses a file that is not a
    checkpoint, one that leaves any tensor of the model uninitialised, and one whose shapes
    differ, naming the tensors and the likely cause.
    """
    from mmengine.model import BaseTTAModel, is_model_wrapper

    from ..converters.common import (converter_tool, describe_checkpoint, key_groups,
                                     read_state_dict)
    state = read_state_dict(checkpoint)
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module  # MMEngine loads the checkpoint into the wrapped model too
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith('num_batches_tracked')]
    wrong_shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if not missing and not wrong_shape:
        return
    family, converted = describe_checkpoint(state)
    if family and not converted and converter_tool(family):
        cause = (f'it is an official {family} checkpoint: convert it with '
                 f'{converter_tool(family)} and use it as the backbone\'s init_cfg to train')
    elif len(missing) == len(own):
        cause = (f'it shares no tensor with the model (its keys look like {list(state)[:3]}, '
                 f'the model\'s like {list(own)[:3]})')
    elif wrong_shape:
        cause = (f'shapes differ for {len(wrong_shape)} tensors, e.g. '
                 + ', '.join(f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                             for k in wrong_shape[:3]) + ': another size or arch?')
    else:
        cause = (f'it leaves {len(missing)} of the model\'s {len(own)} tensors uninitialised '
                 f'({key_groups(missing)}): a checkpoint of another size or arch, or of a '
                 f'backbone only?')
    raise ValueError(f'{checkpoint} does not match this config\'s model: {cause}. Pass the '
                     'checkpoint trained with this config; official or backbone weights go '
                     'in the backbone\'s init_cfg (tools/model_converters/ converts them).')


def default_work_dir(config_path):
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def teardown_distributed():
    """Destroy the process group before the interpreter exits: with gloo, background threads
    still alive at exit abort the process ("terminate called without an active exception")
    after a successful run."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def config_path(path):
    """A config argument as a file path: ``mmdet::``/``mmseg::``/``mmpretrain::`` paths (configs
    shipped inside an installed toolbox, as in ``_base_`` lists) resolve to the installed file;
    a package that is not installed gets a clear error."""
    if '::' not in path:
        return path
    from .analysis import resolve_config_path
    try:
        return resolve_config_path(path)
    except Exception as exc:  # mmengine raises several types for unknown packages
        sys.exit(f'cannot resolve config {path!r}: {exc} (is the toolbox before "::" '
                 f'installed? e.g. pip install -r requirements/mminstall.txt)')
