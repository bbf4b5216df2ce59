"""Cross-time cycle with known camera motion (our addition; replaces DINO matches for static objects).

A pixel p_A with depth d in crop A lifts to X_A = d K_A^-1 [p_A, 1]; the camera motion T_BA (frame A ->
frame B, metres) gives X_B = R_BA X_A + t_BA and the exact pixel p_B = pi_B(X_B). A pair is kept when
p_B lands on a cell of B's object mask whose observed depth agrees with z(X_B) (not occluded).
All maps here are at one resolution (e.g. the stride-4 feature map); pixels are in crop coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from selfpose_ros.losses._checks import check_positive, check_shape, weighted_mean
from selfpose_ros.losses.cycle_transfer import forward_cycle_loss
from selfpose_ros.model.camera import backproject_pixels, check_intrinsics, pixel_grid, project_points


@dataclass
class EgoPairs:
    """Exact pixel pairs from frame A's cells to frame B."""

    pixels_b: torch.Tensor  #: (B,P,2) crop pixel in B of every cell of A
    index_b: torch.Tensor  #: (B,P) long, nearest cell of B (0 where invalid)
    valid: torch.Tensor  #: (B,P) bool, A cell on the object with depth, visible in B


def ego_pixel_pairs(
    depth_a: torch.Tensor,
    mask_a: torch.Tensor,
    K_a: torch.Tensor,
    T_ba: torch.Tensor,
    depth_b: torch.Tensor,
    mask_b: torch.Tensor,
    K_b: torch.Tensor,
    stride: int,
    rel_tol: float = 0.05,
    abs_tol: float = 0.01,
) -> EgoPairs:
    """Map every cell of A (depth/mask maps (B,h,w) at ``stride`` crop pixels per cell) into B.

    K_a, K_b are crop intrinsics; T_ba (B,4,4) maps points in camera A to camera B (same unit as depth).
    Occlusion check: |z_B(X) - depth_b(cell)| <= rel_tol * depth_b(cell) + abs_tol.
    """
    B, h, w = depth_a.shape
    for name, x in (("mask_a", mask_a), ("depth_b", depth_b), ("mask_b", mask_b)):
        check_shape(name, x, (B, h, w))
    check_shape("T_ba", T_ba, (B, 4, 4))
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    Ka = check_intrinsics(K_a, B).to(depth_a)
    Kb = check_intrinsics(K_b, B).to(depth_a)
    xy = pixel_grid(h, w, stride, device=depth_a.device, dtype=depth_a.dtype).expand(B, -1, -1)
    d_a = depth_a.reshape(B, -1)
    ok_a = torch.isfinite(d_a) & (d_a > 0) & (mask_a.reshape(B, -1) > 0.5)
    X_a = backproject_pixels(xy, torch.where(ok_a, d_a, torch.ones_like(d_a)), Ka)
    X_b = torch.einsum("bij,bpj->bpi", T_ba[:, :3, :3].to(X_a), X_a) + T_ba[:, None, :3, 3].to(X_a)
    in_front = X_b[..., 2] > 1e-6
    p_b = project_points(X_b, Kb)
    col = torch.round((p_b[..., 0] - (stride - 1) / 2.0) / stride)
    row = torch.round((p_b[..., 1] - (stride - 1) / 2.0) / stride)
    inside = (col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)
    idx = torch.where(inside, row * w + col, torch.zeros_like(col)).long()
    d_b = torch.gather(depth_b.reshape(B, -1), 1, idx)
    m_b = torch.gather(mask_b.reshape(B, -1), 1, idx) > 0.5
    seen = torch.isfinite(d_b) & (d_b > 0) & ((X_b[..., 2] - d_b).abs() <= rel_tol * d_b + abs_tol)
    valid = ok_a & in_front & inside & m_b & seen
    return EgoPairs(p_b, torch.where(valid, idx, torch.zeros_like(idx)), valid)


def ego_point_loss(points3d_a: torch.Tensor, points3d_b: torch.Tensor, pairs: EgoPairs) -> torch.Tensor:
    """Mean over valid pairs of |q_A(p_A) - q_B(p_B)|^2: both pixels must map to one canonical point."""
    B, P = pairs.valid.shape
    check_shape("points3d_a", points3d_a, (B, P, 3))
    check_shape("points3d_b", points3d_b, (B, None, 3))
    q_b = torch.gather(points3d_b, 1, pairs.index_b.unsqueeze(-1).expand(-1, -1, 3))
    return weighted_mean(((points3d_a - q_b) ** 2).sum(-1), pairs.valid)


def ego_similarity_loss(
    match_2d3d_a: torch.Tensor, match_2d3d_b: torch.Tensor, pairs: EgoPairs, eps: float = 1e-6
) -> torch.Tensor:
    """Symmetric KL between the vertex distributions (rows of the 2D->3D maps) of paired pixels."""
    check_positive("eps", eps)
    B, P = pairs.valid.shape
    check_shape("match_2d3d_a", match_2d3d_a, (B, P, None))
    N = match_2d3d_a.shape[-1]
    check_shape("match_2d3d_b", match_2d3d_b, (B, None, N))
    a = match_2d3d_a + eps
    b = torch.gather(match_2d3d_b, 1, pairs.index_b.unsqueeze(-1).expand(-1, -1, N)) + eps
    a = a / a.sum(-1, keepdim=True)
    b = b / b.sum(-1, keepdim=True)
    kl = 0.5 * ((a * (a.log() - b.log())).sum(-1) + (b * (b.log() - a.log())).sum(-1))
    return weighted_mean(kl, pairs.valid)


def ego_cycle_loss(
    match_2d3d_a: torch.Tensor,
    vertex_pixels_b: torch.Tensor,
    pairs: EgoPairs,
    pixel_scale: float,
) -> torch.Tensor:
    """4-step cycle with an exact backward step: |sum_n W_A[p_A, n] p_B(n) - p_B|^2 / pixel_scale^2."""
    B, P = pairs.valid.shape
    src = torch.arange(P, device=pairs.valid.device).expand(B, P)
    return forward_cycle_loss(match_2d3d_a, vertex_pixels_b, src, pairs.pixels_b, pairs.valid.float(), pixel_scale)
