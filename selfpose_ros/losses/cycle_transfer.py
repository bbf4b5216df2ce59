"""The forward half of the CSE 4-step cycle: pixel (source) -> vertices -> pixel (target).

For a source pixel i, W_fwd = W_src^{2D-3D} W_tgt^{3D-2D} normalised over target pixels gives
q_i = sum_n W_src[i, n] p_tgt[n], with p_tgt[n] the expected target pixel of vertex n (CSE eq. 5).
The backward half is a known pixel pair (source i, target pixel b_i): ego-motion or a teacher match;
the loss is |q_i - b_i|^2 (in crop units), which is zero exactly when the cycle closes.
"""

from __future__ import annotations

import torch

from selfpose_ros.losses._checks import check_positive, check_shape, weighted_mean


def transfer_pixels(
    match_2d3d_src: torch.Tensor, vertex_pixels_tgt: torch.Tensor, src_index: torch.Tensor
) -> torch.Tensor:
    """Expected target pixels (B,k,2) of source cells ``src_index`` (B,k) through the shared vertices."""
    B, P, N = match_2d3d_src.shape
    check_shape("vertex_pixels_tgt", vertex_pixels_tgt, (B, N, 2))
    check_shape("src_index", src_index, (B, None))
    rows = torch.gather(match_2d3d_src, 1, src_index.unsqueeze(-1).expand(-1, -1, N))
    return torch.bmm(rows, vertex_pixels_tgt)


def forward_cycle_loss(
    match_2d3d_src: torch.Tensor,
    vertex_pixels_tgt: torch.Tensor,
    src_index: torch.Tensor,
    tgt_pixels: torch.Tensor,
    weight: torch.Tensor,
    pixel_scale: float,
) -> torch.Tensor:
    """Weighted mean of |q_i - b_i|^2 / pixel_scale^2 over pairs (B,k); out-of-mask sources weigh 0."""
    check_positive("pixel_scale", pixel_scale)
    check_shape("tgt_pixels", tgt_pixels, (*src_index.shape, 2))
    check_shape("weight", weight, tuple(src_index.shape))
    q = transfer_pixels(match_2d3d_src, vertex_pixels_tgt, src_index)
    row_mass = torch.gather(match_2d3d_src.sum(-1), 1, src_index).detach()  # 1 in the mask, 0 outside
    err = ((q - tgt_pixels) ** 2).sum(-1) / pixel_scale**2
    return weighted_mean(err, weight.to(err) * (row_mass > 0.5).to(err))
