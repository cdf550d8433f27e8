import torch
import torch.nn.functional as F
from torch import nn

from mmvit_plugins.utils.complexity import get_complexity


class TinyAttention(nn.Module):
    def __init__(self, fused):
        super().__init__()
        self.fused = fused
        self.qkv = nn.Linear(8, 24)

    def forward(self, x):  # x: (1, 3, H, W) -> tokens of 8 channels
        t = x.flatten(2).transpose(1, 2).repeat(1, 1, 3)[..., :8]
        q, k, v = self.qkv(t).chunk(3, dim=-1)
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v)
        return torch.softmax(q @ k.transpose(-2, -1), -1) @ v


def test_attention_matmuls_and_fused_sdpa_are_counted_alike():
    n = 6 * 7
    linear = n * 8 * 24
    attention = 2 * n * n * 8  # q k^T and attn v
    for fused in (False, True):
        res = get_complexity(TinyAttention(fused), (3, 6, 7))
        assert res['macs'] == linear + attention, fused
        assert res['flops'] == 2 * res['macs']
        assert res['params'] == 8 * 24 + 24


def test_conv_counted_like_the_papers():
    conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
    res = get_complexity(conv, (3, 10, 12))
    assert res['macs'] == 16 * 3 * 9 * 10 * 12
