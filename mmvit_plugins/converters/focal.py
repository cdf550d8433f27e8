"""Official Focal Transformer checkpoints (microsoft/Focal-Transformer, classification) to
mmvit_plugins.

The backbone keeps the official names inside a stage; the conversion maps ``layers.{i}`` to
``stages.{i}`` (Swin's name), the final ``norm`` to the last output norm ``norm3`` and ``head``
to mmpretrain's ``head.fc``, prefixes ``backbone.`` and drops the index buffers (recomputed by
the backbone).
"""
from collections import OrderedDict

from .common import check_convertible, require_keys

FAMILY = 'Focal Transformer'

#: the official ``FocalTransformer.__init__`` defaults (focal_transformer.py @57bb303)
OFFICIAL_DEFAULTS = dict(
    img_size=224, patch_size=4, in_chans=3, num_classes=1000, embed_dim=96,
    depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7, mlp_ratio=4.,
    qkv_bias=True, qk_scale=None, drop_rate=0., attn_drop_rate=0., drop_path_rate=0.1,
    ape=False, patch_norm=True, use_checkpoint=False, use_shift=False,
    focal_stages=[0, 1, 2, 3], focal_levels=[1, 1, 1, 1], focal_windows=[7, 5, 3, 1],
    focal_pool='fc', expand_stages=[0, 1, 2, 3], expand_sizes=[3, 3, 3, 3],
    expand_layer='all', use_conv_embed=False, use_layerscale=False, layerscale_value=1e-4,
    use_pre_norm=False)

# official argument -> backbone argument (same meaning)
_RENAMED = dict(img_size='pretrain_img_size', patch_size='patch_size',
                in_chans='in_channels', window_size='window_size', mlp_ratio='mlp_ratio',
                qkv_bias='qkv_bias', qk_scale='qk_scale', drop_rate='drop_rate',
                attn_drop_rate='attn_drop_rate', drop_path_rate='drop_path_rate',
                patch_norm='patch_norm', use_shift='use_shift', focal_stages='focal_stages',
                focal_levels='focal_levels', focal_windows='focal_windows',
                focal_pool='focal_pool', expand_sizes='expand_sizes',
                expand_layer='expand_layer', use_conv_embed='use_conv_embed',
                use_layerscale='use_layerscale', layerscale_value='layerscale_value',
                use_pre_norm='use_pre_norm')

# buffers of the official model, recomputed by the backbone
_BUFFER_MARKERS = ('relative_position_index', 'valid_ind_rolled', 'valid_ind_unfold',
                   '.attn_mask')


def backbone_cfg(official_kwargs=None, **overrides):
    """The ``FocalTransformer`` backbone config equivalent to official constructor kwargs."""
    kwargs = dict(OFFICIAL_DEFAULTS)
    kwargs.update(official_kwargs or {})
    unknown = set(kwargs) - set(OFFICIAL_DEFAULTS) - {'norm_layer'}
    if unknown:
        raise ValueError(f'unknown official FocalTransformer arguments {sorted(unknown)}')
    if kwargs['ape']:
        raise ValueError('ape=True (absolute position embedding for a fixed input size) is not '
                         'supported by the FocalTransformer backbone; no released model uses it')
    cfg = dict(type='FocalTransformer',
               arch=dict(embed_dims=kwargs['embed_dim'], depths=list(kwargs['depths']),
                         num_heads=list(kwargs['num_heads'])))
    for official, ours in _RENAMED.items():
        value = kwargs[official]
        cfg[ours] = list(value) if isinstance(value, tuple) else value
    cfg['with_cp'] = bool(kwargs['use_checkpoint'])
    cfg.update(overrides)
    return cfg


def classifier_cfg(official_kwargs):
    """mmpretrain ``ImageClassifier`` config reproducing the official classifier.

    The official ``norm`` + average pooling + ``head`` become the backbone's ``norm3``
    (``out_indices=(last,)``), a ``GlobalAveragePooling`` neck and a ``LinearClsHead``.
    """
    kwargs = dict(OFFICIAL_DEFAULTS)
    kwargs.update(official_kwargs or {})
    num_stages = len(kwargs['depths'])
    if kwargs['num_classes'] <= 0:
        raise ValueError('num_classes must be positive for a classifier config')
    return dict(
        type='ImageClassifier',
        backbone=backbone_cfg(official_kwargs, out_indices=(num_stages - 1, ), out_norm=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=kwargs['num_classes'],
                  in_channels=kwargs['embed_dim'] * 2**(num_stages - 1),
                  loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
                  topk=(1, 5)))


def is_official(state_dict):
    """Whether ``state_dict`` is in the official key layout (``layers.*``)."""
    return any(k.startswith('layers.') for k in state_dict)


def check_official(state_dict):
    """Raise ``ValueError`` unless this looks like an official Focal Transformer state dict."""
    require_keys(state_dict, ['patch_embed.proj.weight', 'layers.0.blocks.0.attn.qkv.weight',
                              'layers.0.blocks.0.attn.relative_position_bias_table'], FAMILY)
    if any('downsample.reduction' in k for k in state_dict):
        raise ValueError('this looks like a Swin Transformer checkpoint (it has PatchMerging '
                         '"downsample.reduction" weights), not a Focal Transformer one')
    focal_markers = ('relative_position_bias_table_to_neighbors',
                     'relative_position_bias_table_to_windows', 'pool_layers')
    if not any(m in k for k in state_dict for m in focal_markers):
        raise ValueError('this is not a Focal Transformer checkpoint: it has no focal tables '
                         '(relative_position_bias_table_to_neighbors/_to_windows) nor '
                         'pool_layers')
    if any(k.startswith('backbone.') for k in state_dict):
        raise ValueError('this checkpoint is already in the mmvit_plugins layout (backbone.*)')


def infer_official_kwargs(state_dict):
    """Recover the architecture arguments (embed_dim, depths, num_heads, use_conv_embed,
    num_classes) from an official state dict, for messages and sanity checks."""
    check_official(state_dict)
    stem = state_dict['patch_embed.proj.weight']
    depths, heads, i = [], [], 0
    while f'layers.{i}.blocks.0.attn.qkv.weight' in state_dict:
        j = 0
        while f'layers.{i}.blocks.{j}.attn.qkv.weight' in state_dict:
            j += 1
        depths.append(j)
        heads.append(state_dict[f'layers.{i}.blocks.0.attn.relative_position_bias_table']
                     .shape[1])
        i += 1
    out = dict(embed_dim=stem.shape[0], depths=depths, num_heads=heads,
               use_conv_embed=stem.shape[-1] == 7)
    if 'head.weight' in state_dict:
        out['num_classes'] = state_dict['head.weight'].shape[0]
    return out


def convert(official_state_dict):
    """Official state dict -> state dict of the ``classifier_cfg`` model (strict load)."""
    check_convertible(official_state_dict, FAMILY)
    check_official(official_state_dict)
    num_stages = len(infer_official_kwargs(official_state_dict)['depths'])
    out = OrderedDict()
    for key, value in official_state_dict.items():
        if any(m in key for m in _BUFFER_MARKERS):
            continue
        if key.startswith('head.'):
            out['head.fc.' + key[len('head.'):]] = value
        elif key.startswith('norm.'):
            out[f'backbone.norm{num_stages - 1}.' + key[len('norm.'):]] = value
        elif key.startswith('layers.'):
            out['backbone.stages.' + key[len('layers.'):]] = value
        else:
            out['backbone.' + key] = value
    return out
