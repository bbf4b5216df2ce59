"""Instance cycle losses (CSE eq. 4): 2D -> 3D -> projected 2D, and 3D -> 2D vs the vertex projection."""

from __future__ import annotations

import torch

from selfpose_ros.losses._checks import check_positive, check_shape, weighted_mean
from selfpose_ros.model.camera import check_intrinsics, project_points, sample_map


def _to_camera(points: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bij,bnj->bni", R, points) + t.unsqueeze(1)


def cycle_2d3d_loss(
    points3d: torch.Tensor,
    pixel_xy: torch.Tensor,
    weight: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    K: torch.Tensor,
    pixel_scale: float,
) -> torch.Tensor:
    """Mean over weighted pixels of |pi(R q_p + t) - p|^2 / pixel_scale^2.

    points3d (B,P,3) expected canonical point per pixel; pixel_xy (P,2) or (B,P,2) crop pixels;
    weight (B,P) (the feature mask, optionally times a confidence); R (B,3,3), t (B,3); K crop intrinsics.
    """
    check_positive("pixel_scale", pixel_scale)
    B, P = points3d.shape[:2]
    check_shape("points3d", points3d, (B, P, 3))
    check_shape("weight", weight, (B, P))
    xy = pixel_xy.expand(B, P, 2) if pixel_xy.dim() == 2 else pixel_xy
    check_shape("pixel_xy", xy, (B, P, 2))
    proj = project_points(_to_camera(points3d, R, t), check_intrinsics(K, B).to(points3d))
    err = ((proj - xy) ** 2).sum(-1) / pixel_scale**2
    return weighted_mean(err, weight)


def visibility_weights(
    vertices_cam: torch.Tensor,
    rendered_depth: torch.Tensor,
    K_render: torch.Tensor,
    strength: float = 5.0,
) -> torch.Tensor:
    """exp(-strength * relu(z_v - z_render)) per vertex (B,N), detached; z_render read at the projection.

    Vertices projecting outside the rendered image read depth 0 and get a weight near 0.
    """
    B, N = vertices_cam.shape[:2]
    check_shape("vertices_cam", vertices_cam, (B, N, 3))
    check_shape("rendered_depth", rendered_depth, (B, None, None))
    with torch.no_grad():
        uv = project_points(vertices_cam, check_intrinsics(K_render, B).to(vertices_cam))
        z_r = sample_map(rendered_depth.unsqueeze(1), uv, stride=1.0).squeeze(-1)
        return torch.exp(-strength * torch.relu(vertices_cam[..., 2] - z_r))


def cycle_3d2d_loss(
    vertex_pixels: torch.Tensor,
    vertices_cam: torch.Tensor,
    K: torch.Tensor,
    weight: torch.Tensor,
    pixel_scale: float,
) -> torch.Tensor:
    """Mean over weighted vertices of |pi(v) - p_v|^2 / pixel_scale^2 (expected pixel vs projection).

    vertex_pixels (B,N,2) crop pixels from the 3D->2D map; vertices_cam (B,N,3) posed vertices;
    weight (B,N) visibility (see visibility_weights) times the vertex validity.
    """
    check_positive("pixel_scale", pixel_scale)
    B, N = vertex_pixels.shape[:2]
    check_shape("vertex_pixels", vertex_pixels, (B, N, 2))
    check_shape("vertices_cam", vertices_cam, (B, N, 3))
    check_shape("weight", weight, (B, N))
    proj = project_points(vertices_cam, check_intrinsics(K, B).to(vertices_cam))
    err = ((proj - vertex_pixels) ** 2).sum(-1) / pixel_scale**2
    return weighted_mean(err, weight)
