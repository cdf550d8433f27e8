# Each family module registers its backbone into MMEngine's root MODELS registry, so a bare
# type name resolves under the mmdet, mmseg and mmpretrain scopes.
from .dat import DAT
from .focal import FocalTransformer
from .sasa import SASAResNet
from .shunted import ShuntedTransformer

__all__ = ['DAT', 'FocalTransformer', 'SASAResNet', 'ShuntedTransformer']
