"""Detection heads built on mmdet's, registered lazily (see :mod:`mmvit_plugins.models.lazy`)."""
from ..lazy import lazy_classes

__getattr__ = lazy_classes(__name__, {'SASARetinaHead': 'sasa_retina_head'},
                           registered=['SASARetinaHead'])
