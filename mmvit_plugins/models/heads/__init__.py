"""Detection heads built on mmdet's, registered lazily as the necks are (see
``mmvit_plugins.models.necks``): ``type='SASARetinaHead'`` works in any mmdet config."""
from mmengine.registry import MODELS

_CLASSES = {'SASARetinaHead': 'sasa_retina_head'}


@MODELS.register_module(name='SASARetinaHead')
def build_sasa_retina_head(*args, **kwargs):
    """Build :class:`~mmvit_plugins.models.heads.sasa_retina_head.SASARetinaHead`."""
    from .sasa_retina_head import SASARetinaHead
    return SASARetinaHead(*args, **kwargs)


def __getattr__(name):
    if name in _CLASSES:
        import importlib
        return getattr(importlib.import_module(f'.{_CLASSES[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
