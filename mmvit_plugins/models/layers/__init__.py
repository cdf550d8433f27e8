from .attention import ATTENTION_IMPLS, multihead_attention
from .deformable_attention import DeformableAttention2d, LayerNorm2d, sample_rpe_bias
from .local_attention import LocalSelfAttention2d, SASAConv2d
from .neighborhood_attention import (NeighborhoodAttention2d, neighborhood_attention_2d,
                                     neighborhood_window_index)
from .query_chunked_attention import query_chunked_attention

__all__ = [
    'ATTENTION_IMPLS', 'multihead_attention', 'DeformableAttention2d', 'LayerNorm2d',
    'sample_rpe_bias', 'LocalSelfAttention2d', 'SASAConv2d', 'NeighborhoodAttention2d',
    'neighborhood_attention_2d', 'neighborhood_window_index', 'query_chunked_attention'
]
