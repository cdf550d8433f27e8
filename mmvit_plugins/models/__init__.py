from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from . import heads, necks  # noqa: F401  (registers SASAFPN, SASARetinaHead lazily)
