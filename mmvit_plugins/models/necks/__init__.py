"""Necks built on mmdet's. mmdet is imported when one is built or accessed, not when
mmvit_plugins is imported: the plugin must not import the toolboxes itself, so the registry
holds a builder under the class's name (``type='SASAFPN'`` works in any mmdet config)."""
from mmengine.registry import MODELS

_CLASSES = {'SASAFPN': 'sasa_fpn', 'SASAConvModule': 'sasa_fpn'}


@MODELS.register_module(name='SASAFPN')
def build_sasa_fpn(*args, **kwargs):
    """Build :class:`~mmvit_plugins.models.necks.sasa_fpn.SASAFPN`."""
    from .sasa_fpn import SASAFPN
    return SASAFPN(*args, **kwargs)


def __getattr__(name):
    if name in _CLASSES:
        import importlib
        return getattr(importlib.import_module(f'.{_CLASSES[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
