from .attention import ATTENTION_IMPLS, multihead_attention

__all__ = ['ATTENTION_IMPLS', 'multihead_attention']
