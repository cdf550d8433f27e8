"""Official DAT++ (``LeapLabTHU/DAT`` ``models/dat.py`` @32173fc, and the DAT-Detection /
DAT-Segmentation backbones) -> mmvit_plugins.

The backbone uses Swin's module names (like mmdet's ``swin_converter``, :func:`convert_key`):

* ``patch_proj.*`` -> ``patch_embed.*``; ``down_projs.i.*`` -> ``stages.i.downsample.*``;
* ``stages.i.{local_perception_units, layer_norms (2d | 2d+1), attns, mlps}.d.*`` ->
  ``stages.i.blocks.d.{lpu, norm1 | norm2, attn, mlp}.*``;
* the deformable bias tables ``attns.d.rpe_table`` -> ``blocks.d.attn.relative_position_bias_table``
  (the neighbourhood tables keep NATTEN's ``rpb``: the official recipe weight-decays them);
* ``cls_norm.norm.*`` -> ``norm3.*`` (the final LayerNorm, applied before pooling),
  ``norms.i.norm.*`` (det/seg backbones) -> ``norm{i}.*``; ``cls_head.*`` -> ``head.fc.*``
  (mmpretrain ``LinearClsHead``); every backbone key gets the ``backbone.`` prefix.

Usage::

    cfg = classifier_cfg(dict(dim_stem=64, dims=[64, 128, 256, 512], ...))  # or 'dat_tiny'
    model = MODELS.build(cfg)
    model.load_state_dict(convert(torch.load(path)['model']), strict=True)
"""
import copy
import re
from collections import OrderedDict

from .common import check_convertible, require_keys, strip_prefix, unwrap_state_dict

FAMILY = 'DAT++'

#: Defaults of the official ``DAT.__init__`` (``models/dat.py`` @32173fc), used for the keys an
#: ``official_kwargs`` dict leaves out.
OFFICIAL_DEFAULTS = dict(
    img_size=224, patch_size=4, num_classes=1000, expansion=4, dim_stem=96,
    dims=[96, 192, 384, 768], depths=[2, 2, 6, 2], heads=[3, 6, 12, 24],
    heads_q=[6, 12, 24, 48], window_sizes=[7, 7, 7, 7], drop_rate=0.0, attn_drop_rate=0.0,
    drop_path_rate=0.0, strides=[-1, -1, -1, -1], offset_range_factor=[1, 2, 3, 4],
    stage_spec=[['L', 'D'], ['L', 'D'], ['L', 'D', 'L', 'D', 'L', 'D'], ['L', 'D']],
    groups=[-1, -1, 3, 6], use_pes=[False] * 4, dwc_pes=[False] * 4, sr_ratios=[8, 4, 2, 1],
    lower_lr_kvs={}, fixed_pes=[False] * 4, no_offs=[False] * 4, ns_per_pts=[4] * 4,
    use_dwc_mlps=[False] * 4, use_conv_patches=False, ksizes=[9, 7, 5, 3],
    ksize_qnas=[3] * 4, nqs=[2] * 4, qna_activation='exp', nat_ksizes=[3] * 4,
    layer_scale_values=[-1] * 4, use_lpus=[False] * 4, log_cpb=[False] * 4)

_DAT_PP = dict(
    img_size=224, patch_size=4, expansion=4, depths=[2, 4, 18, 2],
    stage_spec=[['N', 'D'], ['N', 'D'] * 2, ['N', 'D'] * 9, ['D', 'D']],
    window_sizes=[7] * 4, use_pes=[True] * 4, dwc_pes=[False] * 4, strides=[8, 4, 2, 1],
    offset_range_factor=[-1] * 4, no_offs=[False] * 4, fixed_pes=[False] * 4,
    use_dwc_mlps=[True] * 4, use_lpus=[True] * 4, use_conv_patches=True, ksizes=[9, 7, 5, 3],
    nat_ksizes=[7] * 4, drop_rate=0.0, attn_drop_rate=0.0)
#: The official configs ``configs/dat_{tiny,small,base}.yaml`` (DAT++).
OFFICIAL_MODELS = {
    'dat_tiny': dict(_DAT_PP, dim_stem=64, dims=[64, 128, 256, 512], heads=[2, 4, 8, 16],
                     groups=[1, 2, 4, 8], drop_path_rate=0.2),
    'dat_small': dict(_DAT_PP, dim_stem=96, dims=[96, 192, 384, 768], heads=[3, 6, 12, 24],
                      groups=[1, 2, 3, 6], drop_path_rate=0.4),
    'dat_base': dict(_DAT_PP, dim_stem=128, dims=[128, 256, 512, 1024], heads=[4, 8, 16, 32],
                     groups=[2, 4, 8, 16], drop_path_rate=0.7),
}


def _official_kwargs(official_kwargs):
    if isinstance(official_kwargs, str):
        if official_kwargs not in OFFICIAL_MODELS:
            raise ValueError(f'unknown official DAT++ model {official_kwargs!r}; choose one of '
                             f'{sorted(OFFICIAL_MODELS)} or pass the constructor kwargs')
        official_kwargs = OFFICIAL_MODELS[official_kwargs]
    unknown = set(official_kwargs) - set(OFFICIAL_DEFAULTS)
    if unknown:
        raise ValueError(f'unknown official DAT constructor arguments {sorted(unknown)}')
    kw = copy.deepcopy(OFFICIAL_DEFAULTS)
    kw.update(copy.deepcopy(official_kwargs))
    return kw


def backbone_cfg(official_kwargs):
    """The ``DAT`` backbone config equal to an official constructor call (no out_indices)."""
    kw = _official_kwargs(official_kwargs)
    problems = []
    if not kw['use_conv_patches'] or kw['patch_size'] != 4:
        problems.append('only the DAT++ conv stem (use_conv_patches=True, patch_size=4)')
    for key, want in (('use_dwc_mlps', True), ('dwc_pes', False), ('no_offs', False),
                      ('fixed_pes', False), ('log_cpb', False)):
        if any(bool(v) != want for v in kw[key]):
            problems.append(f'{key}={kw[key]} (supported: all {want})')
    if any(v > 0 for v in kw['layer_scale_values']):
        problems.append('layer_scale_values > 0')
    specs = [list(s) for s in kw['stage_spec']]
    bad = sorted({b for s in specs for b in s} - {'N', 'D'})
    if bad:
        problems.append(f"block types {bad} (DAT v1 'L'/'S' and the unused 'P'/'Q'/'X'/'E' "
                        f"blocks; DAT++ uses 'N' and 'D')")
    orf = set(kw['offset_range_factor'][i] for i, s in enumerate(specs) if 'D' in s)
    if len(orf) > 1:
        problems.append(f'per-stage offset_range_factor {kw["offset_range_factor"]}')
    if problems:
        raise ValueError('this official configuration is not DAT++ as mmvit_plugins implements '
                         'it: unsupported ' + '; '.join(problems))
    arch = dict(stem_channels=kw['dim_stem'], embed_dims=list(kw['dims']),
                depths=list(kw['depths']), num_heads=list(kw['heads']),
                num_groups=list(kw['groups']), stage_specs=specs, strides=list(kw['strides']),
                offset_kernel_sizes=list(kw['ksizes']), nat_kernel_sizes=list(kw['nat_ksizes']),
                mlp_ratio=kw['expansion'])
    if not all(kw['use_pes']):
        arch['use_pes'] = [bool(v) for v in kw['use_pes']]
    if not all(kw['use_lpus']):
        arch['use_lpus'] = [bool(v) for v in kw['use_lpus']]
    img = kw['img_size']
    return dict(type='DAT', arch=arch, img_size=img if isinstance(img, int) else list(img),
                drop_rate=kw['drop_rate'], attn_drop_rate=kw['attn_drop_rate'],
                drop_path_rate=kw['drop_path_rate'],
                offset_range_factor=orf.pop() if orf else -1)


def classifier_cfg(official_kwargs):
    """mmpretrain ``ImageClassifier`` config equal to an official ``DAT(**official_kwargs)``.

    Args:
        official_kwargs (dict | str): the official constructor keyword arguments (missing ones
            take the official defaults) or an official model name (``'dat_tiny'``...).
    """
    kw = _official_kwargs(official_kwargs)
    backbone = backbone_cfg(kw)
    backbone.update(out_indices=(3,), out_norm=True)
    n = kw['num_classes']
    return dict(
        type='ImageClassifier', backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=n, in_channels=kw['dims'][-1],
                  loss=dict(type='CrossEntropyLoss'), topk=(1, 5) if n >= 5 else (1,)))


_REQUIRED = ('patch_proj.0.weight', 'patch_proj.4.norm.weight',
             'stages.0.layer_norms.0.norm.weight', 'down_projs.0.0.weight')


def is_official(state_dict):
    """Whether ``state_dict`` is in the official key layout (``patch_proj.*``)."""
    return any(k.startswith('patch_proj.') for k in state_dict)


def check_official_state_dict(state_dict):
    """Raise ``ValueError`` unless ``state_dict`` is an official DAT++ backbone/classifier."""
    require_keys(state_dict, _REQUIRED, FAMILY)
    stem = state_dict['patch_proj.0.weight']
    if stem.dim() != 4 or stem.shape[-1] != 3:
        raise ValueError('this is a DAT v1 checkpoint (4x4 patch stem); mmvit_plugins '
                         'implements DAT++ (3x3 conv stem) only')
    if any('.chunk.' in k or 'relative_position_bias_table' in k for k in state_dict):
        raise ValueError("this is a DAT v1 checkpoint ('L'/'S' window blocks); mmvit_plugins "
                         'implements DAT++ only')


_BLOCK_PARTS = {'local_perception_units': 'lpu', 'attns': 'attn', 'mlps': 'mlp'}


def convert_key(key):
    """An official backbone key (without ``backbone.``) -> its mmvit_plugins name."""
    if key.startswith('patch_proj.'):
        return 'patch_embed.' + key[len('patch_proj.'):]
    m = re.match(r'down_projs\.(\d+)\.(.+)$', key)
    if m:
        return f'stages.{m.group(1)}.downsample.{m.group(2)}'
    m = re.match(r'norms\.(\d+)\.norm\.(.+)$', key)
    if m:
        return f'norm{m.group(1)}.{m.group(2)}'
    m = re.match(r'stages\.(\d+)\.(\w+)\.(\d+)\.(.+)$', key)
    if m is None:
        return key  # stages.i.proj.* (only when the widths differ)
    stage, part, idx, rest = m.group(1), m.group(2), int(m.group(3)), m.group(4)
    if part == 'layer_norms':
        return f'stages.{stage}.blocks.{idx // 2}.norm{idx % 2 + 1}.{rest}'
    if part not in _BLOCK_PARTS:
        raise ValueError(f'unexpected key {key!r} in a {FAMILY} checkpoint')
    if part == 'attns' and rest == 'rpe_table':
        rest = 'relative_position_bias_table'
    return f'stages.{stage}.blocks.{idx}.{_BLOCK_PARTS[part]}.{rest}'


def infer_arch(state_dict):
    """Name of the released arch (``'tiny'``/``'small'``/``'base'``) a converted state dict
    (backbone or classifier) matches, or ``None`` for a custom one."""
    from ..models.backbones.dat import DAT
    sd = {k[len('backbone.'):] if k.startswith('backbone.') else k: v
          for k, v in state_dict.items()}
    dims = []
    for i in range(4):
        w = sd.get(f'stages.{i}.blocks.0.norm1.norm.weight')
        dims.append(None if w is None else w.shape[0])
    depths = [len({int(m.group(1)) for k in sd
                   for m in [re.match(rf'stages\.{i}\.blocks\.(\d+)\.', k)] if m})
              for i in range(4)]
    for name in ('tiny', 'small', 'base'):
        a = DAT.arch_zoo[name]
        if dims == a['embed_dims'] and depths == a['depths']:
            return name
    return None


def convert(official_state_dict):
    """Official DAT++ state dict -> mmpretrain ``ImageClassifier`` state dict.

    Accepts the classification model (``cls_norm``/``cls_head``), and the detection /
    segmentation backbones (``norms.i``; ``backbone.`` prefix of a full detector or segmentor
    is stripped and its neck/heads dropped), wrapped or not in ``{'model'|'state_dict': ...}``.
    """
    sd = unwrap_state_dict(official_state_dict)
    check_convertible(sd, FAMILY)
    sd = strip_prefix(sd, 'backbone.')
    check_official_state_dict(sd)
    out = OrderedDict()
    for k, v in sd.items():
        if k.startswith('cls_norm.norm.'):
            out['backbone.norm3.' + k[len('cls_norm.norm.'):]] = v
        elif k.startswith('cls_head.'):
            out['head.fc.' + k[len('cls_head.'):]] = v
        elif k.startswith(('patch_proj.', 'stages.', 'down_projs.', 'norms.')):
            if k.startswith('norms.') and not re.match(r'norms\.\d+\.norm\.', k):
                raise ValueError(f'unexpected output-norm key {k!r}')
            out['backbone.' + convert_key(k)] = v
        elif k.startswith(('neck.', 'rpn_head.', 'roi_head.', 'bbox_head.', 'decode_head.',
                           'auxiliary_head.', 'mask_head.')):
            continue  # the rest of an official detector/segmentor checkpoint
        else:
            raise ValueError(f'unexpected key {k!r} in a {FAMILY} checkpoint')
    return out
