from .attention import ATTENTION_IMPLS, multihead_attention

__all__ = ['ATTENTION_IMPLS', 'multihead_attention']
from .neighborhood_attention import (NeighborhoodAttention2d, neighborhood_attention_2d,
                                     neighborhood_window_index)

__all__ += ['NeighborhoodAttention2d', 'neighborhood_attention_2d', 'neighborhood_window_index']
from .local_attention import LocalSelfAttention2d, SASAConv2d  # noqa: E402

__all__ += ['LocalSelfAttention2d', 'SASAConv2d']
