"""Checkpoint plumbing shared by the family converters and their CLIs."""
import argparse
import os
import os.path as osp
import re
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


def read_state_dict(checkpoint, map_location='cpu', logger=None):
    """The flat state dict of a checkpoint file (or any URL MMEngine's ``CheckpointLoader``
    reads), for the ``Pretrained`` loader, the converters and ``tools/test.py``.

    A missing file is a ``FileNotFoundError``; a file torch cannot read (corrupt, truncated,
    another format) or one without tensors is a ``ValueError`` naming the file and what it is
    not. Official checkpoints may pickle training arguments next to the weights, so the file
    is unpickled in full (mmvit_plugins lifts torch's ``weights_only`` default for MMEngine):
    load only files you trust.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    if '://' not in str(checkpoint) and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    try:
        obj = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location,
                                               logger=logger)
    except FileNotFoundError:
        raise
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise ValueError(f'{checkpoint} is not a readable PyTorch checkpoint (corrupt, '
                         f'truncated or another format; download it again): '
                         f'{type(e).__name__}: {e}') from None
    try:
        return unwrap_state_dict(obj)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{checkpoint} holds no state dict: {e}') from None


def load_checkpoint_file(path):
    """The flat state dict of a checkpoint file on disk (:func:`read_state_dict`)."""
    return read_state_dict(path)


def key_groups(keys, depth=3):
    """The distinct ``depth``-part prefixes of ``keys`` (``stages.2.blocks``), sorted, for
    messages about many missing or unexpected tensors."""
    groups = sorted({'.'.join(k.split('.')[:depth]) for k in keys})
    return f'{groups[:8]}{" ..." if len(groups) > 8 else ""}'


# Key fragments only one family's checkpoints have, in the official and in our layout.
_FAMILY_MARKERS = (
    ('Focal Transformer', 'focal', ('relative_position_bias_table_to_neighbors',
                                    'relative_position_bias_table_to_windows', '.pool_layers.')),
    ('Shunted Transformer', 'shunted', ('.attn.sr1.', '.attn.kv1.')),
    ('DAT++', 'dat', ('.conv_offset.', )),
    ('SASA', None, ('.rel_row', )),
    ('Swin Transformer', None, ('.attn.w_msa.', 'downsample.reduction')),
)
# mmvit_plugins' layout (Swin's names), which no official layout of the families uses
_OUR_LAYOUT = re.compile(r'(^|\.)stages\.\d+\.blocks\.\d+\.')


def describe_checkpoint(state_dict):
    """``(family, converted)``: the family whose characteristic keys ``state_dict`` has (None
    if none) and whether it is in mmvit_plugins' layout (``stages.i.blocks.j``)."""
    family = next((name for name, _, marks in _FAMILY_MARKERS
                   if any(m in k for k in state_dict for m in marks)), None)
    # SASA has no official checkpoints: its layout is ours (mmdet's ResNet names)
    return family, family == 'SASA' or any(_OUR_LAYOUT.search(k) for k in state_dict)


def converter_tool(family):
    """``tools/model_converters/<family>2mmvit.py`` for a family name, or None."""
    module = next((mod for name, mod, _ in _FAMILY_MARKERS if name == family), None)
    return f'tools/model_converters/{module}2mmvit.py' if module else None


def check_convertible(state_dict, family):
    """Raise ``ValueError`` for a checkpoint ``family``'s converter must not convert: one
    already in the mmvit_plugins layout, or one of another family (naming its converter)."""
    found, converted = describe_checkpoint(state_dict)
    if converted and found in (family, None):
        raise ValueError(
            f'this checkpoint is already in the mmvit_plugins layout (stages.i.blocks.j keys): '
            f'load it directly (load_from, or the backbone\'s init_cfg=dict(type=\'Pretrained\', '
            f'checkpoint=...)), without converting')
    if found not in (None, family):
        tool = converter_tool(found)
        hint = ('; it is already in the mmvit_plugins layout' if converted else
                f'; convert it with {tool}' if tool else '')
        raise ValueError(f'this is a {found} checkpoint, not a {family} one{hint}')


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
