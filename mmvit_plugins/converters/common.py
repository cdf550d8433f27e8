"""Checkpoint plumbing shared by the family converters and their CLIs."""
import argparse
import os
import os.path as osp
from collections import OrderedDict

import torch

_CONTAINER_KEYS = ('state_dict', 'model', 'model_ema', 'module')


def unwrap_state_dict(obj, strip_prefixes=('module.',)):
    """Return the flat ``{name: tensor}`` dict inside a checkpoint object.

    Understands ``{'state_dict': ...}``, ``{'model': ...}`` and raw state dicts, and strips
    the ``module.`` prefix left by (Distributed)DataParallel.
    """
    if not isinstance(obj, dict):
        raise TypeError(f'a checkpoint must be a dict, got {type(obj).__name__}')
    for key in _CONTAINER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner):
            if any(torch.is_tensor(v) for v in inner.values()):
                obj = inner
                break
    tensors = OrderedDict((k, v) for k, v in obj.items() if torch.is_tensor(v))
    if not tensors:
        raise ValueError('no tensors found in the checkpoint (expected a state dict, or a dict '
                         f'holding one under one of {_CONTAINER_KEYS})')
    for prefix in strip_prefixes:
        if all(k.startswith(prefix) for k in tensors):
            tensors = OrderedDict((k[len(prefix):], v) for k, v in tensors.items())
    return tensors


def load_checkpoint_file(path):
    """Load a checkpoint file from disk and return its flat state dict.

    Official checkpoints may pickle training arguments next to the weights, so this uses
    ``weights_only=False``: convert only files you trust.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as e:  # truncated download, not a torch file, ...
        raise ValueError(f'{path} is not a readable PyTorch checkpoint '
                         f'({type(e).__name__}: {e}); download it again') from None
    return unwrap_state_dict(obj)


def strip_prefix(state_dict, prefix):
    """Keep the keys that start with ``prefix`` (without it), when there are any."""
    sub = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                      if k.startswith(prefix))
    return sub if sub else state_dict


def require_keys(state_dict, keys, family, what='official checkpoint'):
    """Raise ``ValueError`` unless every key in ``keys`` is present."""
    missing = [k for k in keys if k not in state_dict]
    if missing:
        raise ValueError(
            f'this is not a {family} {what}: it lacks {missing[:5]} '
            f'(its keys look like {list(state_dict)[:4]})')


def backbone_only(state_dict, prefix='backbone.'):
    """Keep the backbone part of a classifier state dict, without the prefix."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


def converter_main(family, convert_fn, argv=None, description=None):
    """The body of ``tools/model_converters/<family>2mmvit.py``.

    ``convert_fn(official_state_dict) -> classifier state dict`` (keys ``backbone.*`` and
    ``head.*``). ``--backbone-only`` writes only the backbone weights, without prefix, for a
    detector's or segmentor's ``init_cfg=dict(type='Pretrained', checkpoint=DST)``.
    """
    parser = argparse.ArgumentParser(
        description=description or f'Convert an official {family} checkpoint to mmvit_plugins')
    parser.add_argument('src', help='official checkpoint ({"model": ...}, raw, module. prefix)')
    parser.add_argument('dst', help='output file (.pth)')
    parser.add_argument('--backbone-only', action='store_true',
                        help='keep only the backbone, for a detector/segmentor init_cfg')
    args = parser.parse_args(argv)
    try:
        official = load_checkpoint_file(args.src)
        converted = convert_fn(official)
    except (ValueError, FileNotFoundError, KeyError, TypeError) as e:
        parser.exit(2, f'error: {e}\n')
    if args.backbone_only:
        converted = backbone_only(converted)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': converted, 'meta': dict(converted_from=osp.basename(args.src),
                                                       family=family,
                                                       backbone_only=args.backbone_only)},
               args.dst)
    print(f'{family}: wrote {len(converted)} tensors to {args.dst}')
    return args.dst
