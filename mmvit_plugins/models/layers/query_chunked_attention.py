"""Fused CPU attention with long query sequences folded into extra "heads".

With few heads and long query sequences (the one or two heads per group of Shunted's first
stages), PyTorch's fused CPU attention parallelises over batch x heads only, and its backward
is then several times slower than the plain formula. Every query row attends to the same
keys, so :func:`query_chunked_attention` cuts the queries into chunks that become extra heads
sharing K and V through a stride-0 ``expand`` (no copy). The result is exact.
"""
import torch.nn.functional as F

#: Query rows per chunk: the best compromise over Shunted-S's four stage shapes at 512x512
#: (chunks of 256-1024 are within 20 %).
CPU_QUERY_CHUNK = 512
#: Chunk for sequences of at least ``LONG_SEQUENCE`` queries (detection-size stages 1-2): the
#: backward runs 15-20 % faster with 2048 rows, the forward is unchanged.
CPU_QUERY_CHUNK_LONG = 2048
LONG_SEQUENCE = 16384


def cpu_query_chunk(num_queries, default=CPU_QUERY_CHUNK):
    """Query rows per chunk for a sequence of ``num_queries``."""
    return CPU_QUERY_CHUNK_LONG if num_queries >= LONG_SEQUENCE else default


def query_chunked_attention(q, k, v, scale, dropout_p=0., chunk=CPU_QUERY_CHUNK):
    """``scaled_dot_product_attention`` with the queries folded into chunks of ``chunk`` rows.

    Args:
        q (Tensor): ``(B, h, N, d)``.
        k (Tensor): ``(B, h, M, d)``.
        v (Tensor): ``(B, h, M, dv)``.
        scale (float): multiplier of ``q k^T``.
        dropout_p (float): attention dropout (pass 0 in eval mode).
        chunk (int): query rows per chunk.

    Returns:
        Tensor: ``(B, h, N, dv)``.
    """
    B, h, N, d = q.shape
    M = k.shape[2]
    chunks = -(-N // chunk)
    pad = chunks * chunk - N
    if pad:  # padded query rows are computed and dropped; they get no gradient
        q = F.pad(q, (0, 0, 0, pad))
    q = q.reshape(B * h, chunks, chunk, d)
    k = k.reshape(B * h, 1, M, d).expand(-1, chunks, -1, -1)
    v = v.reshape(B * h, 1, M, v.shape[-1]).expand(-1, chunks, -1, -1)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)
    return out.reshape(B, h, chunks * chunk, -1)[:, :, :N]
