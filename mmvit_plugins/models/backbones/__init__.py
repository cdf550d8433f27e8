# Each family module registers its backbone into MMEngine's root MODELS registry.
# Keep this list in sync with the families in configs/.
__all__ = []
from .shunted import ShuntedTransformer  # noqa: E402,F401
from .dat import DAT  # noqa: F401,E402

__all__ += ['DAT']
from .focal import FocalTransformer  # noqa: F401,E402
from .sasa import SASAResNet  # noqa: E402,F401

__all__ += ['SASAResNet']
