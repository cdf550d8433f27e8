"""The contract every mmvit_plugins backbone follows (documented in docs/backbone_contract.md).

A family subclasses :class:`BaseBackbone` and, in its ``__init__``:

1. calls ``super().__init__(frozen_stages=..., norm_eval=..., with_cp=..., pretrained=...,
   init_cfg=...)``;
2. parses its architecture with :meth:`parse_arch` (an ``arch_zoo`` name or a custom dict
   with the keys ``arch_keys``, plus any of ``arch_optional_keys``);
3. calls :meth:`set_stages` with its number of stages and the ``out_indices`` argument, which
   normalises ``out_indices`` and bounds-checks ``frozen_stages``;
4. builds its modules (drop path with :func:`drop_path_layer` over :func:`drop_path_rates`);
5. ends with ``self._freeze_stages()``, so frozen parameters already have
   ``requires_grad=False`` when MMEngine wraps the model in DDP (mmdet #8208).

Freezing follows mmdet's ResNet and Swin: ``frozen_stages=0`` freezes the stem, ``k`` also
stages ``0..k-1`` with their output norms ``norm{i}``. The modules behind "stem" and "stage i"
are :meth:`_stem_modules` and :meth:`_stage_modules`; the defaults use Swin's names
(``patch_embed``, ``stages[i]``, ``norm{i}``).
"""
import copy
import importlib
import re
import warnings
from collections.abc import Sequence

import torch
from mmcv.cnn.bricks import DropPath
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...converters.common import backbone_only, key_groups, read_state_dict


class BaseBackbone(BaseModule):
    """Base class: arch parsing, ``out_indices``, ``frozen_stages``, ``norm_eval``,
    ``with_cp``, input checks and a checked ``Pretrained`` loader.

    Args:
        frozen_stages (int): -1 freezes nothing, 0 the stem, k also stages 0..k-1 (and their
            output norms). Must be in ``[-1, num_stages]``.
        norm_eval (bool): keep BatchNorm layers in eval mode while training.
        with_cp (bool): gradient checkpointing of every block (saves memory, same gradients).
        pretrained (str, optional): deprecated alias of
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
        init_cfg (dict | list[dict], optional): initialisation config; ``Pretrained`` takes
            ``checkpoint``, optional ``prefix`` (e.g. ``'backbone.'``), ``map_location`` and
            ``partial=True`` to accept a checkpoint that covers only part of the backbone.
    """
    #: name -> dict of architecture settings
    arch_zoo = {}
    #: keys a custom arch dict must have, and keys it may have
    arch_keys = ()
    arch_optional_keys = ()
    #: tensors a pretrained checkpoint may lack (regexes on names): the dense-task output
    #: norms, which ImageNet checkpoints do not have, and BatchNorm's batch counter
    pretrained_optional_keys = (r'norm\d\.', r'.*num_batches_tracked$')
    #: the family's module in ``mmvit_plugins.converters`` (``is_official`` and ``convert``),
    #: used to load official checkpoints directly and named in error messages
    converter = None

    def __init__(self, frozen_stages=-1, norm_eval=False, with_cp=False, pretrained=None,
                 init_cfg=None):
        assert not (init_cfg and pretrained), \
            'init_cfg and pretrained cannot be specified at the same time'
        if isinstance(pretrained, str):
            warnings.warn('DeprecationWarning: pretrained is deprecated, '
                          'please use "init_cfg" instead')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        elif pretrained is not None:
            raise TypeError('pretrained must be a str or None')
        super().__init__(init_cfg=init_cfg)
        if isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int):
            raise TypeError(f'frozen_stages must be an int, got {frozen_stages!r}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp

    # ----------------------------------------------------------------- arguments
    @classmethod
    def parse_arch(cls, arch):
        """A deep copy of ``arch_zoo[arch]`` (names are case-insensitive), or of a custom dict
        after checking its keys. Lists stay lists."""
        name = cls.__name__
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(
                    f'unknown {name} arch {arch!r}: choose one of {sorted(cls.arch_zoo)} or '
                    f'pass a dict with the keys {list(cls.arch_keys)}')
            return copy.deepcopy(cls.arch_zoo[key])
        if not isinstance(arch, dict):
            raise TypeError(f'{name} arch must be a str or a dict, got {type(arch).__name__}')
        missing = [k for k in cls.arch_keys if k not in arch]
        unknown = [k for k in arch if k not in cls.arch_keys and k not in cls.arch_optional_keys]
        if missing or unknown:
            optional = (f', optional {list(cls.arch_optional_keys)}'
                        if cls.arch_optional_keys else '')
            raise ValueError(
                f'custom {name} arch: missing keys {missing}, unknown keys {unknown} '
                f'(required {list(cls.arch_keys)}{optional})')
        return {k: (list(v) if isinstance(v, tuple) else copy.deepcopy(v))
                for k, v in arch.items()}

    @staticmethod
    def parse_out_indices(out_indices, num_stages):
        """``out_indices`` as a sorted tuple of stage indices.

        An int or a sequence of ints; negative indices count from the end (-1 is the last
        stage). Out of range, repeated or empty is a ``ValueError``. Outputs always come in
        stage order."""
        if isinstance(out_indices, int) and not isinstance(out_indices, bool):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence) or isinstance(out_indices, str) or \
                not all(isinstance(i, int) and not isinstance(i, bool) for i in out_indices):
            raise TypeError(f'out_indices must be an int or a sequence of ints, '
                            f'got {out_indices!r}')
        if len(out_indices) == 0:
            raise ValueError('out_indices must not be empty')
        bad = [i for i in out_indices if not -num_stages <= i < num_stages]
        if bad:
            raise ValueError(f'out_indices {list(out_indices)}: {bad} out of range for '
                             f'{num_stages} stages (use 0..{num_stages - 1} or negatives '
                             'from the end)')
        norm = [i % num_stages for i in out_indices]
        if len(set(norm)) != len(norm):
            raise ValueError(f'out_indices {list(out_indices)} name a stage twice')
        return tuple(sorted(norm))

    def set_stages(self, num_stages, out_indices):
        """Set ``num_stages`` and ``out_indices`` and check ``frozen_stages`` against them."""
        self.num_stages = num_stages
        self.out_indices = self.parse_out_indices(out_indices, num_stages)
        if not -1 <= self.frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}] (-1: nothing, '
                             f'0: the stem, k: the stem and stages 0..k-1), '
                             f'got {self.frozen_stages}')

    def check_input(self, x):
        """Raise a clear error unless ``x`` is a float ``(B, in_channels, H, W)`` tensor."""
        if not torch.is_tensor(x) or x.dim() != 4 or not x.is_floating_point():
            what = (f'a {x.dim()}-D {x.dtype} tensor of shape {tuple(x.shape)}'
                    if torch.is_tensor(x) else type(x).__name__)
            raise ValueError(f'{type(self).__name__} expects a float tensor (B, C, H, W), '
                             f'got {what}; add the batch dimension with x[None]')
        in_channels = getattr(self, 'in_channels', None)
        if in_channels is not None and x.shape[1] != in_channels:
            raise ValueError(f'{type(self).__name__} was built for {in_channels} input '
                             f'channels, got {x.shape[1]} (input shape {tuple(x.shape)})')

    # ----------------------------------------------------------------- freezing
    @staticmethod
    def _freeze_module(module):
        if module is None:
            return
        module.eval()
        for param in module.parameters():
            param.requires_grad = False

    def _stem_modules(self):
        """Modules frozen by ``frozen_stages >= 0``."""
        return [self.patch_embed]

    def _stage_modules(self, i):
        """Modules of stage ``i`` frozen by ``frozen_stages > i``."""
        return [self.stages[i], getattr(self, f'norm{i}', None)]

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            for m in self._stem_modules():
                self._freeze_module(m)
        for i in range(self.frozen_stages):
            for m in self._stage_modules(i):
                self._freeze_module(m)

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ----------------------------------------------------------------- weights
    def _init_default_weights(self):
        """From-scratch initialisation of the family (override)."""

    def _is_pretrained_cfg(self):
        return isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'

    def init_weights(self):
        if not self._is_pretrained_cfg():
            super().init_weights()
            if self.init_cfg is None:
                self._init_default_weights()
            return
        cfg = self.init_cfg
        self._init_default_weights()  # what the checkpoint does not cover stays well initialised
        self.load_pretrained(cfg['checkpoint'], prefix=cfg.get('prefix'),
                             map_location=cfg.get('map_location', 'cpu'),
                             partial=cfg.get('partial', False))
        self._is_init = True

    @property
    def converter_tool(self):
        """The script converting the family's official checkpoints (None without one)."""
        return (f'tools/model_converters/{self.converter}2mmvit.py'
                if self.converter else None)

    def _from_official_layout(self, state_dict, checkpoint, logger):
        """An official checkpoint's state dict in our names (as mmdet's Swin converts official
        Swin weights on loading); any other state dict unchanged."""
        if self.converter is None:
            return state_dict
        conv = importlib.import_module(f'mmvit_plugins.converters.{self.converter}')
        if not conv.is_official(state_dict):
            return state_dict
        logger.info(f'{checkpoint} is an official {type(self).__name__} checkpoint: converting '
                    f'its keys (what {self.converter_tool} does)')
        return backbone_only(conv.convert(state_dict))

    def load_pretrained(self, checkpoint, prefix=None, map_location='cpu', partial=False):
        """Load a checkpoint into the backbone, logging missing and unexpected keys.

        Accepts ``{'state_dict': ...}`` / ``{'model': ...}`` / raw dicts, ``module.`` prefixes,
        and full detector/segmentor/classifier checkpoints through ``prefix='backbone.'``.
        Raises ``ValueError`` when the checkpoint shares no key with this backbone (another
        family, or an unconverted official checkpoint) and ``RuntimeError`` naming the tensors
        whose shapes differ (another size). A checkpoint that leaves parameters other than
        ``pretrained_optional_keys`` uninitialised is a ``ValueError`` naming them, unless
        ``partial=True``; a file that is not a checkpoint is a ``ValueError`` naming the file.
        """
        logger = MMLogger.get_current_instance()
        name = type(self).__name__
        state_dict = read_state_dict(checkpoint, map_location, logger)
        if prefix:
            if not prefix.endswith('.'):
                prefix += '.'
            with_prefix = {k[len(prefix):]: v for k, v in state_dict.items()
                           if k.startswith(prefix)}
            if with_prefix:
                state_dict = with_prefix
            else:
                logger.info(f'{checkpoint}: no key starts with {prefix!r}; '
                            'loading it as a backbone-only checkpoint')
        state_dict = self._from_official_layout(state_dict, checkpoint, logger)
        own = self.state_dict()
        if not any(k in own for k in state_dict):
            hint = (f' If it is an official checkpoint, convert it first: python '
                    f'{self.converter_tool} SRC DST --backbone-only.'
                    if self.converter else '')
            raise ValueError(
                f'{checkpoint} shares no parameter name with {name}: it is a checkpoint of '
                f'another model or in the official key layout (its keys look like '
                f'{list(state_dict)[:3]}, {name} expects e.g. {list(own)[:3]}).{hint}')
        try:
            result = self.load_state_dict(state_dict, strict=False)
        except RuntimeError as e:
            raise RuntimeError(
                f'{checkpoint} does not fit this {name} configuration (another size or arch?): '
                f'{e}') from None
        missing = [k for k in result.missing_keys
                   if not any(re.match(p, k) for p in self.pretrained_optional_keys)]
        if missing and not partial:
            raise ValueError(
                f'{checkpoint} leaves {len(missing)} of the {len(own)} tensors of this {name} '
                f'uninitialised ({key_groups(missing)}): is it a '
                f'checkpoint of another size or arch of the family, or of another model? Pass '
                f"init_cfg=dict(type='Pretrained', ..., partial=True) to load it anyway.")
        if result.missing_keys:
            logger.warning(f'{name}: missing keys in {checkpoint}: {result.missing_keys}')
        if result.unexpected_keys:
            logger.warning(f'{name}: unexpected keys in {checkpoint}: {result.unexpected_keys}')
        logger.info(f'{name}: loaded {len(state_dict) - len(result.unexpected_keys)} tensors '
                    f'from {checkpoint}')
        return result


def drop_path_rates(drop_path_rate, depths):
    """Linear stochastic-depth schedule over all blocks, split per stage: ``[[r_0, ...], ...]``."""
    total = sum(depths)
    rates = torch.linspace(0, drop_path_rate, total).tolist() if total else []
    out, i = [], 0
    for d in depths:
        out.append(rates[i:i + d])
        i += d
    return out


def drop_path_layer(rate):
    """mmcv's ``DropPath`` for a positive rate, else ``nn.Identity``."""
    return DropPath(rate) if rate > 0 else nn.Identity()
