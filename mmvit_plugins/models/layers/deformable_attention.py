"""Deformable multi-head attention of DAT++ (official ``DAttentionBaseline``), NCHW maps.

Queries are all positions of the map; keys/values are ``Hk x Wk = ceil(H/r) x ceil(W/r)``
features bilinearly sampled at learnt positions ``clamp(ref + offset, -1, 1)``; the logits
get a relative position bias bilinearly sampled from a table at the query-key displacements.

Two implementations, selected with ``attn_impl``:

* ``'reference'``: the official op order (einsum, scale, + grid-sampled bias, softmax,
  einsum), the tests' oracle;
* ``'fast'``: the bias interpolated separably (row and column two-tap interpolations, the
  rows as a GEMM into the logits) inside a chunked key-major attention whose backward
  recomputes logits and bias, so no ``B x heads x HW x Hk*Wk`` tensor is built whole or kept
  (:mod:`.separable_bias_attention`).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger

from .attention import check_attn_impl
from .attention_capture import record_attention
from .separable_bias_attention import separable_bias_attention

__all__ = ['LayerNorm2d', 'normalised_grid', 'grid_2d', 'sample_rpe_bias',
           'DeformableAttention2d']


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW map (the official ``LayerNormProxy``).

    The affine parameters live in ``self.norm`` (keys ``<name>.norm.weight/bias``), so they
    keep matching a ``'norm'`` key of ``paramwise_cfg``.
    """

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def normalised_grid(length, dtype, device, centres):
    """1-D coordinates in the ``align_corners=True`` convention of ``grid_sample``.

    ``centres=True``: the DAT++ reference points ``linspace(0.5, L-0.5, L) / (L-1) * 2 - 1``
    (the last one lies outside ``[-1, 1]`` and is clamped later, as in the official code);
    ``centres=False``: pixel positions ``arange(L) / (L-1) * 2 - 1``.
    """
    g = torch.arange(0, length, dtype=dtype, device=device)
    if centres:  # = linspace(0.5, L - 0.5, L) exactly; ONNX export turns linspace into float64
        g = g + 0.5
    return g.div_(length - 1.0).mul_(2.0).sub_(1.0)


def grid_2d(h, w, dtype, device, centres):
    """``(h, w, 2)`` grid in (y, x) order (see :func:`normalised_grid`)."""
    gy = normalised_grid(h, dtype, device, centres)
    gx = normalised_grid(w, dtype, device, centres)
    return torch.stack(torch.meshgrid(gy, gx, indexing='ij'), dim=-1)


def sample_rpe_bias(table, pos, q_hw, num_groups):
    """Relative position bias of DAT++ sampled from ``table`` at the query-key displacements:
    ``grid_sample(table, 0.5 * (q_grid - pos), bilinear, align_corners=True)``.

    Args:
        table (Tensor): ``(heads, 2*q_h-1, 2*q_w-1)``.
        pos (Tensor): ``(B*G, Hk, Wk, 2)`` sampling positions in (y, x) order, in [-1, 1].
        q_hw (tuple[int, int]): query map size ``(H, W)``.
        num_groups (int): offset groups ``G`` (heads ``[g*h/G, (g+1)*h/G)`` use group ``g``).

    Returns:
        Tensor: ``(B, heads, H*W, Hk*Wk)``.
    """
    BG = pos.shape[0]
    H, W = q_hw
    heads = table.shape[0]
    B = BG // num_groups
    table = table.reshape(1, num_groups, heads // num_groups, *table.shape[1:])
    table = table.expand(B, -1, -1, -1, -1).reshape(BG, heads // num_groups, *table.shape[3:])
    # The displacement built directly in (x, y) order: the official arithmetic on the (y, x)
    # tensor followed by [..., (1, 0)], without copying the big tensor.
    q_grid = grid_2d(H, W, pos.dtype, pos.device, centres=False).flip(-1).reshape(1, H * W, 1, 2)
    pos_xy = pos.flip(-1).reshape(BG, 1, -1, 2)
    disp = (q_grid - pos_xy).mul_(0.5)
    bias = F.grid_sample(table, disp, mode='bilinear', align_corners=True)
    return bias.reshape(B, heads, H * W, -1)


class DeformableAttention2d(nn.Module):
    """Deformable multi-head attention of DAT++ (official ``DAttentionBaseline``).

    Offsets come from the projected queries through one depthwise conv per group
    (``DWConv(k, stride r) -> LN -> GELU -> 1x1``, shared by the groups). The position-bias
    table ``relative_position_bias_table`` has the size fixed by ``q_size`` (the training
    resolution), so larger maps stretch the same table.

    Args:
        embed_dims (int): channels ``C``.
        num_heads (int): heads (``C / num_heads`` channels each).
        num_groups (int): offset groups ``G`` (``num_heads`` divisible by it).
        stride (int): key sampling stride ``r``.
        offset_kernel_size (int): kernel of the offset depthwise conv.
        q_size (tuple[int, int]): map size the bias table is built for.
        offset_range_factor (float): ``< 0`` (DAT++): unbounded offsets, clamped positions;
            ``>= 0``: ``tanh`` bounded offsets scaled by it, no clamp.
        use_pe (bool): add the relative position bias.
        attn_drop (float), proj_drop (float): dropout rates.
        attn_impl (str): ``'fast'`` (separable bias, chunked attention recomputed in
            backward) or ``'reference'``.

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)``, ``H, W >= 2``.
    """

    def __init__(self, embed_dims, num_heads, num_groups, stride, offset_kernel_size,
                 q_size, offset_range_factor=-1, use_pe=True, attn_drop=0., proj_drop=0.,
                 attn_impl='fast'):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        if num_heads % num_groups:
            raise ValueError(f'num_heads ({num_heads}) must be divisible by num_groups '
                             f'({num_groups})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_groups = num_groups
        self.head_dims = embed_dims // num_heads
        self.group_dims = embed_dims // num_groups
        self.scale = self.head_dims ** -0.5
        self.stride = stride
        self.q_size = tuple(q_size)
        self.offset_range_factor = offset_range_factor
        self.use_pe = use_pe
        self.attn_impl = check_attn_impl(attn_impl)
        kk = offset_kernel_size
        pad = kk // 2 if kk != stride else 0
        self.conv_offset = nn.Sequential(
            nn.Conv2d(self.group_dims, self.group_dims, kk, stride, pad,
                      groups=self.group_dims),
            LayerNorm2d(self.group_dims),
            nn.GELU(),
            nn.Conv2d(self.group_dims, 2, 1, bias=False))
        self.proj_q = nn.Conv2d(embed_dims, embed_dims, 1)
        self.proj_k = nn.Conv2d(embed_dims, embed_dims, 1)
        self.proj_v = nn.Conv2d(embed_dims, embed_dims, 1)
        self.proj_out = nn.Conv2d(embed_dims, embed_dims, 1)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)
        if use_pe:
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros(num_heads, 2 * self.q_size[0] - 1, 2 * self.q_size[1] - 1))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.01)
        else:
            self.relative_position_bias_table = None

    def sampling_positions(self, q):
        """Offsets from the projected queries ``q (B, C, H, W)``.

        Returns:
            Tensor: ``(B*G, Hk, Wk, 2)`` positions in (y, x) order.
        """
        B, C, H, W = q.shape
        offset = self.conv_offset(q.reshape(B * self.num_groups, self.group_dims, H, W))
        Hk, Wk = offset.shape[2:]
        if Hk < 2 or Wk < 2 or H < 2 or W < 2:
            raise ValueError(
                f'DAT++ deformable attention needs at least 2x2 queries and keys, got a '
                f'{H}x{W} map ({Hk}x{Wk} keys): the input image must be larger than 32 pixels '
                f'per side')
        if self.offset_range_factor >= 0:
            rng = offset.new_tensor([1.0 / (Hk - 1.0), 1.0 / (Wk - 1.0)]).reshape(1, 2, 1, 1)
            offset = offset.tanh().mul(rng).mul(self.offset_range_factor)
        offset = offset.permute(0, 2, 3, 1)
        ref = grid_2d(Hk, Wk, q.dtype, q.device, centres=True)
        pos = offset + ref
        if self.offset_range_factor < 0:
            pos = pos.clamp(-1., 1.)
        return pos

    def forward(self, x):
        B, C, H, W = x.shape
        q = self.proj_q(x)
        pos = self.sampling_positions(q)
        Ns = pos.shape[1] * pos.shape[2]
        x_sampled = F.grid_sample(
            x.reshape(B * self.num_groups, self.group_dims, H, W), pos.flip(-1),
            mode='bilinear', align_corners=True).reshape(B, C, 1, Ns)
        k = self.proj_k(x_sampled)
        v = self.proj_v(x_sampled)
        if self.attn_impl == 'reference':
            out = self._attend_reference(q, k, v, pos, H, W)
        else:
            out = self._attend_fast(q, k, v, pos, H, W)
        return self.proj_drop(self.proj_out(out))

    def _attend_reference(self, q, k, v, pos, H, W):
        """The official op order: einsum, scale, + grid-sampled bias, softmax, einsum."""
        B, C = q.shape[:2]
        hd, nh = self.head_dims, self.num_heads
        Ns = pos.shape[1] * pos.shape[2]
        q = q.reshape(B * nh, hd, H * W)
        k = k.reshape(B * nh, hd, Ns)
        v = v.reshape(B * nh, hd, Ns)
        attn = torch.einsum('bcm,bcn->bmn', q, k).mul(self.scale)
        if self.use_pe:
            G = self.num_groups
            rpe = self.relative_position_bias_table
            table = rpe[None].expand(B, -1, -1, -1).reshape(B * G, nh // G, *rpe.shape[1:])
            q_grid = grid_2d(H, W, q.dtype, q.device, centres=False)
            disp = (q_grid.reshape(1, H * W, 1, 2) - pos.reshape(B * G, 1, Ns, 2)).mul(0.5)
            bias = F.grid_sample(table, disp[..., (1, 0)], mode='bilinear', align_corners=True)
            attn = attn + bias.reshape(B * nh, H * W, Ns)
        attn = F.softmax(attn, dim=2)
        record_attention(attn, positions=pos)  # no-op outside capture_attention
        attn = self.attn_drop(attn)
        out = torch.einsum('bmn,bcn->bcm', attn, v)
        return out.reshape(B, C, H, W)

    def _attend_fast(self, q, k, v, pos, H, W):
        """Separable bias interpolation fused with a chunked attention (see
        :mod:`.separable_bias_attention`); SDPA without the bias."""
        B, C = q.shape[:2]
        hd, nh = self.head_dims, self.num_heads
        if self.use_pe and not (self.training and self.attn_drop.p > 0):
            return separable_bias_attention(q, k, v, self.relative_position_bias_table, pos,
                                            self.scale, self.num_groups)
        if self.use_pe:  # attention dropout: the plain formula
            return self._attend_reference(q, k, v, pos, H, W)
        q = q.reshape(B, nh, hd, H * W).transpose(-2, -1)
        k = k.reshape(B, nh, hd, -1).transpose(-2, -1)
        v = v.reshape(B, nh, hd, -1).transpose(-2, -1)
        p = self.attn_drop.p if self.training else 0.
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=self.scale)
        return out.transpose(-2, -1).reshape(B, C, H, W)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Tables trained for another resolution are resized bicubically (official
        # det/seg loader behaviour); a different head count is left to the size check.
        key = prefix + 'relative_position_bias_table'
        own = self.relative_position_bias_table
        if own is not None and key in state_dict:
            table = state_dict[key]
            if (table.dim() == 3 and table.shape[0] == own.shape[0]
                    and table.shape[1:] != own.shape[1:]):
                MMLogger.get_current_instance().info(
                    f'{key}: resizing the position-bias table from {tuple(table.shape[1:])} '
                    f'to {tuple(own.shape[1:])} (bicubic)')
                state_dict[key] = F.interpolate(
                    table[None].float(), size=own.shape[1:], mode='bicubic',
                    align_corners=False)[0].to(table.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self):
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'num_groups={self.num_groups}, stride={self.stride}, q_size={self.q_size}, '
                f'attn_impl={self.attn_impl!r}')
