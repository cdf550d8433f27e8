from .attention import ATTENTION_IMPLS, multihead_attention
from .local_attention import LocalSelfAttention2d, SASAConv2d
from .neighborhood_attention import (NeighborhoodAttention2d, neighborhood_attention_2d,
                                     neighborhood_window_index)

__all__ = [
    'ATTENTION_IMPLS', 'multihead_attention', 'LocalSelfAttention2d', 'SASAConv2d',
    'NeighborhoodAttention2d', 'neighborhood_attention_2d', 'neighborhood_window_index'
]
