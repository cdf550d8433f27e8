"""Behaviour shared by every mmvit_plugins backbone.

Subclasses implement ``_freeze_stages`` (mmdet/ResNet convention: ``frozen_stages=0`` freezes
the stem only, ``k`` also freezes stages ``0..k-1`` and their output norms) and call it at
the end of their ``__init__`` so frozen parameters already have ``requires_grad=False`` when
MMEngine wraps the model in DDP (mmdet #8208). They may implement ``_init_default_weights``
(the from-scratch initialisation) and set ``converter_tool`` to the script that converts the
family's official checkpoints.
"""
import warnings

import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from torch.nn.modules.batchnorm import _BatchNorm

from ...converters.common import unwrap_state_dict


class BaseBackbone(BaseModule):
    """Base class with the ``pretrained``/``init_cfg`` shim, freezing, ``norm_eval`` and a
    checked ``Pretrained`` loader.

    Args:
        frozen_stages (int): stages to freeze (see the module docstring); -1 freezes nothing.
        norm_eval (bool): keep BatchNorm layers in eval mode while training.
        pretrained (str, optional): deprecated alias of
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
        init_cfg (dict | list[dict], optional): initialisation config.
    """
    #: script that converts official checkpoints of the family (named in error messages)
    converter_tool = None

    def __init__(self, frozen_stages=-1, norm_eval=False, pretrained=None, init_cfg=None):
        assert not (init_cfg and pretrained), \
            'init_cfg and pretrained cannot be specified at the same time'
        if isinstance(pretrained, str):
            warnings.warn('DeprecationWarning: pretrained is deprecated, '
                          'please use "init_cfg" instead')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        elif pretrained is not None:
            raise TypeError('pretrained must be a str or None')
        super().__init__(init_cfg=init_cfg)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

    # ----------------------------------------------------------------- freezing
    @staticmethod
    def _freeze_module(module):
        if module is None:
            return
        module.eval()
        for param in module.parameters():
            param.requires_grad = False

    def _freeze_stages(self):
        raise NotImplementedError

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
                             map_location=cfg.get('map_location', 'cpu'))
        self._is_init = True

    def load_pretrained(self, checkpoint, prefix=None, map_location='cpu'):
        """Load a checkpoint into the backbone, logging missing and unexpected keys.

        Accepts ``{'state_dict': ...}`` / ``{'model': ...}`` / raw dicts, ``module.`` prefixes,
        and full detector/segmentor/classifier checkpoints through ``prefix='backbone.'``.
        Raises ``ValueError`` when the checkpoint shares no key with this backbone (another
        family, or an unconverted official checkpoint) and ``RuntimeError`` naming the tensors
        whose shapes differ (another size).
        """
        logger = MMLogger.get_current_instance()
        name = type(self).__name__
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location,
                                                logger=logger)
        state_dict = unwrap_state_dict(ckpt)
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
        own = self.state_dict()
        if not any(k in own for k in state_dict):
            hint = (f' If it is an official checkpoint, convert it first: python '
                    f'{self.converter_tool} SRC DST --backbone-only.'
                    if self.converter_tool else '')
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
        if result.missing_keys:
            logger.warning(f'{name}: missing keys in {checkpoint}: {result.missing_keys}')
        if result.unexpected_keys:
            logger.warning(f'{name}: unexpected keys in {checkpoint}: {result.unexpected_keys}')
        logger.info(f'{name}: loaded {len(state_dict) - len(result.unexpected_keys)} tensors '
                    f'from {checkpoint}')
        return result


def drop_path_rates(drop_path_rate, depths):
    """Linear stochastic-depth schedule, split per stage: ``[[r_0, ...], ...]``."""
    total = sum(depths)
    rates = torch.linspace(0, drop_path_rate, total).tolist() if total else []
    out, i = [], 0
    for d in depths:
        out.append(rates[i:i + d])
        i += d
    return out
