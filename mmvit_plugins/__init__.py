"""mmvit_plugins: Focal, Shunted, DAT++ and SASA backbones for OpenMMLab 2.x.

Importing the package checks the versions of the OpenMMLab stack and registers every
backbone into MMEngine's root ``MODELS`` registry, so that a bare ``type='FocalTransformer'``
resolves under ``default_scope`` mmdet, mmseg and mmpretrain alike (their registries are
children of the root one). It never imports mmdet, mmseg or mmpretrain itself.
"""
import os

# mmengine 0.10.7 calls torch.load without weights_only; torch >= 2.6 then refuses the
# checkpoints mmengine itself writes (message hub objects on --resume). torch reads the
# variable at each load, so setting it here covers the tools, the tests and user projects.
if 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ:
    import warnings
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    warnings.filterwarnings('ignore', 'Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')

from .utils.version_check import check_versions  # noqa: E402
from .version import __version__

check_versions()

from . import models  # noqa: E402,F401  (registers the backbones)

__all__ = ['__version__', 'check_versions']
