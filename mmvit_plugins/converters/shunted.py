"""Official Shunted Transformer (OliverRensu/Shunted-Transformer ``SSA.py``) -> mmvit_plugins.

Key mapping (official -> ours; the names inside the blocks are unchanged):

* ``patch_embed1.*`` -> ``backbone.patch_embed.*`` (the conv stem);
* ``block{i}.*`` -> ``backbone.stages.{i-1}.blocks.*`` (i = 1..4);
* ``patch_embed{i}.*`` -> ``backbone.stages.{i-2}.downsample.*`` (i = 2..4);
* ``norm{i}.*`` -> ``backbone.norm{i-1}.*`` (i = 1..4);
* ``head.*`` -> ``head.fc.*`` (mmpretrain ``LinearClsHead``).

Usage::

    cfg = classifier_cfg(dict(embed_dims=[64, 128, 256, 512], ..., num_conv=1))
    # or classifier_cfg('shunted_s')
    model = MODELS.build(cfg)
    model.load_state_dict(convert(torch.load(path)['model']), strict=True)
"""
import functools
import re
from collections import OrderedDict

import torch

from .common import check_convertible, require_keys, unwrap_state_dict

FAMILY = 'Shunted Transformer'

#: Defaults of the official ``ShuntedTransformer.__init__`` (``SSA.py``), used for the keys an
#: ``official_kwargs`` dict leaves out.
OFFICIAL_DEFAULTS = dict(
    img_size=224, patch_size=16, in_chans=3, num_classes=1000,
    embed_dims=[64, 128, 256, 512], num_heads=[1, 2, 4, 8], mlp_ratios=[4, 4, 4, 4],
    qkv_bias=False, qk_scale=None, drop_rate=0., attn_drop_rate=0., drop_path_rate=0.,
    norm_layer=None, depths=[3, 4, 6, 3], sr_ratios=[8, 4, 2, 1], num_stages=4, num_conv=0)

_FACTORY = dict(embed_dims=[64, 128, 256, 512], num_heads=[2, 4, 8, 16], mlp_ratios=[8, 8, 4, 4],
                qkv_bias=True, norm_layer=dict(type='LN', eps=1e-6), sr_ratios=[8, 4, 2, 1])
#: The official factories ``shunted_t/s/b`` (all with ``norm_layer=LayerNorm(eps=1e-6)``).
OFFICIAL_MODELS = {
    'shunted_t': dict(_FACTORY, depths=[1, 2, 4, 1], num_conv=0),
    'shunted_s': dict(_FACTORY, depths=[2, 4, 12, 1], num_conv=1),
    'shunted_b': dict(_FACTORY, depths=[3, 4, 24, 2], num_conv=2),
}

# Constructor arguments that do not change the computation (img_size/patch_size only set
# unused attributes; the stem hard-codes 3 input channels).
_IGNORED = ('img_size', 'patch_size', 'in_chans')


def _norm_eps(norm_layer):
    """eps of the official ``norm_layer`` argument: None (nn.LayerNorm, 1e-5), a
    ``functools.partial(nn.LayerNorm, eps=...)``, a dict with ``eps`` or a number."""
    if norm_layer is None:
        return 1e-5
    if isinstance(norm_layer, str) and norm_layer in ('LN', 'LayerNorm', 'nn.LayerNorm'):
        return 1e-5
    if isinstance(norm_layer, (int, float)):
        return float(norm_layer)
    if isinstance(norm_layer, dict):
        return float(norm_layer.get('eps', 1e-5))
    if isinstance(norm_layer, functools.partial):
        return float(norm_layer.keywords.get('eps', 1e-5))
    if isinstance(norm_layer, type) and issubclass(norm_layer, torch.nn.LayerNorm):
        return 1e-5
    raise ValueError(f'unsupported norm_layer {norm_layer!r}: give None (nn.LayerNorm), '
                     "partial(nn.LayerNorm, eps=...) or dict(type='LN', eps=...)")


def backbone_kwargs(official_kwargs):
    """``ShuntedTransformer`` arguments equivalent to the official constructor's kwargs
    (or the name of an official factory, ``'shunted_t'``/``'shunted_s'``/``'shunted_b'``)."""
    if isinstance(official_kwargs, str):
        if official_kwargs not in OFFICIAL_MODELS:
            raise ValueError(f'unknown official model {official_kwargs!r}; choose one of '
                             f'{sorted(OFFICIAL_MODELS)} or pass the constructor kwargs')
        official_kwargs = OFFICIAL_MODELS[official_kwargs]
    unknown = sorted(set(official_kwargs) - set(OFFICIAL_DEFAULTS))
    if unknown:
        raise ValueError(f'unknown official ShuntedTransformer arguments {unknown}; known: '
                         f'{sorted(OFFICIAL_DEFAULTS)}')
    kw = dict(OFFICIAL_DEFAULTS, **official_kwargs)
    if kw['num_stages'] != 4:
        raise ValueError(f'only num_stages=4 is supported (the official head reads '
                         f'embed_dims[3]), got {kw["num_stages"]}')
    if kw['in_chans'] != 3:
        raise ValueError('the official stem always takes 3 input channels (in_chans is '
                         f'ignored there), got in_chans={kw["in_chans"]}')
    arch = {k: list(kw[k]) for k in ('embed_dims', 'depths', 'num_heads', 'mlp_ratios',
                                     'sr_ratios')}
    arch['num_conv'] = int(kw['num_conv'])
    return dict(type='ShuntedTransformer', arch=arch, qkv_bias=bool(kw['qkv_bias']),
                qk_scale=kw['qk_scale'], drop_rate=kw['drop_rate'],
                attn_drop_rate=kw['attn_drop_rate'], drop_path_rate=kw['drop_path_rate'],
                norm_eps=_norm_eps(kw['norm_layer']))


def classifier_cfg(official_kwargs):
    """mmpretrain ``ImageClassifier`` config computing what the official model computes:
    backbone (last stage, after ``norm3``, the official ``norm4``) -> global average pooling
    (= the official token mean) -> ``LinearClsHead``."""
    backbone = backbone_kwargs(official_kwargs)
    backbone['out_indices'] = (3, )
    num_classes = (OFFICIAL_DEFAULTS if isinstance(official_kwargs, str)
                   else dict(OFFICIAL_DEFAULTS, **official_kwargs))['num_classes']
    cfg = dict(type='ImageClassifier', backbone=backbone,
               neck=dict(type='GlobalAveragePooling'))
    if num_classes > 0:
        cfg['head'] = dict(type='LinearClsHead', num_classes=num_classes,
                           in_channels=backbone['arch']['embed_dims'][3],
                           loss=dict(type='CrossEntropyLoss', loss_weight=1.0))
    return cfg


REQUIRED_KEYS = ('patch_embed1.conv.0.weight', 'patch_embed1.norm.weight',
                 'block1.0.attn.q.weight', 'block1.0.mlp.dwconv.dwconv.weight',
                 'patch_embed4.proj.weight', 'norm4.weight')


_OFFICIAL_KEY = re.compile(r'(patch_embed|block|norm)([1-4])\.(.+)')


def backbone_key(key):
    """An official backbone key -> ours, without prefix (``block2.0.x`` ->
    ``stages.1.blocks.0.x``)."""
    m = _OFFICIAL_KEY.fullmatch(key)
    if m is None:
        raise ValueError(f'unexpected key {key!r} in an official {FAMILY} checkpoint')
    name, i, rest = m[1], int(m[2]), m[3]
    if name == 'block':
        new = f'stages.{i - 1}.blocks'
    elif name == 'norm':
        new = f'norm{i - 1}'
    elif i == 1:
        new = 'patch_embed'
    else:
        new = f'stages.{i - 2}.downsample'
    return f'{new}.{rest}'


def convert_key(key):
    """One official key -> ours (``backbone.*`` / ``head.fc.*``)."""
    if key.startswith('head.'):
        return 'head.fc.' + key[len('head.'):]
    return 'backbone.' + backbone_key(key)


def is_official(state_dict):
    """Whether ``state_dict`` is in the official key layout (``block1.*``)."""
    return 'block1.0.attn.q.weight' in state_dict


def convert(official_state_dict):
    """Official state dict (raw, ``{'model': ...}``, ``module.``-prefixed) -> the state dict of
    ``classifier_cfg``'s model (``backbone.*``, ``head.fc.*``), loadable with ``strict=True``.

    Raises ``ValueError`` for a checkpoint of another family or an already converted one.
    """
    state_dict = unwrap_state_dict(official_state_dict)
    check_convertible(state_dict, FAMILY)
    if any(k.startswith('backbone.') for k in state_dict):
        raise ValueError('this checkpoint is already in the mmvit_plugins layout (backbone.* '
                         'keys): load it directly, without converting')
    require_keys(state_dict, REQUIRED_KEYS, FAMILY)
    return OrderedDict((convert_key(k), v) for k, v in state_dict.items())
