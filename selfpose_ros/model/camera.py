"""Pinhole camera helpers for crops (pixel centres at integer coordinates, OpenCV style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_intrinsics(K: torch.Tensor, batch: int) -> torch.Tensor:
    """Return ``K`` as (batch, 3, 3); raise ValueError on a wrong shape."""
    if K.dim() == 2:
        K = K.unsqueeze(0).expand(batch, 3, 3)
    if K.shape != (batch, 3, 3):
        raise ValueError(f"intrinsics must be (3,3) or ({batch},3,3), got {tuple(K.shape)}")
    return K


def project_points(points: torch.Tensor, K: torch.Tensor, min_depth: float = 1e-4) -> torch.Tensor:
    """Project camera-frame points (..., N, 3) with K (..., 3, 3) to pixels (..., N, 2); depth clamped, no skew."""
    z = points[..., 2:3].clamp(min=min_depth)
    xy = points[..., :2] / z
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    return torch.stack((fx * xy[..., 0] + cx, fy * xy[..., 1] + cy), dim=-1)


def backproject_pixels(pixels: torch.Tensor, depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Lift pixels (..., N, 2) with depth (..., N) through K (..., 3, 3) to camera points (..., N, 3)."""
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    x = (pixels[..., 0] - cx) / fx * depth
    y = (pixels[..., 1] - cy) / fy * depth
    return torch.stack((x, y, depth), dim=-1)


def scale_intrinsics(K: torch.Tensor, factor: float) -> torch.Tensor:
    """Return K for an image resized by ``factor`` (u' = f (u + 0.5) - 0.5)."""
    if factor <= 0:
        raise ValueError(f"scale factor must be positive, got {factor}")
    out = K.clone()
    out[..., 0, 0] = K[..., 0, 0] * factor
    out[..., 1, 1] = K[..., 1, 1] * factor
    out[..., 0, 1] = K[..., 0, 1] * factor
    out[..., 0, 2] = (K[..., 0, 2] + 0.5) * factor - 0.5
    out[..., 1, 2] = (K[..., 1, 2] + 0.5) * factor - 0.5
    return out


def pixel_grid(height: int, width: int, stride: int = 1, device=None, dtype=torch.float32) -> torch.Tensor:
    """Crop-pixel (u, v) centres of a (height, width) map of cells ``stride`` crop pixels wide: (h*w, 2)."""
    offset = (stride - 1) / 2.0
    v = torch.arange(height, device=device, dtype=dtype) * stride + offset
    u = torch.arange(width, device=device, dtype=dtype) * stride + offset
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack((uu.reshape(-1), vv.reshape(-1)), dim=-1)


def downsample_mask(mask: torch.Tensor, factor: int, threshold: float = 0.5) -> torch.Tensor:
    """Area-downsample a (B, H, W) mask by an integer ``factor``; cells with coverage >= threshold are 1."""
    if mask.dim() != 3:
        raise ValueError(f"mask must be (B,H,W), got {tuple(mask.shape)}")
    if mask.shape[1] % factor or mask.shape[2] % factor:
        raise ValueError(f"mask size {tuple(mask.shape[1:])} not divisible by {factor}")
    pooled = F.avg_pool2d(mask.float().unsqueeze(1), factor).squeeze(1)
    return (pooled >= threshold).to(mask.dtype if mask.dtype.is_floating_point else torch.float32)


def sample_map(image: torch.Tensor, pixels: torch.Tensor, stride: float = 1.0) -> torch.Tensor:
    """Bilinearly sample a (B, C, h, w) map at crop pixels (B, N, 2) of a map with ``stride``: (B, N, C).

    Map cell (i, j) is centred at crop pixel ((j + 0.5) * stride - 0.5, (i + 0.5) * stride - 0.5).
    Points outside the map read zeros.
    """
    h, w = image.shape[-2:]
    cell = (pixels + 0.5) / stride  # in map cells, cell centres at +0.5
    gx = cell[..., 0] / w * 2.0 - 1.0
    gy = cell[..., 1] / h * 2.0 - 1.0
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(2)  # (B, N, 1, 2)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(-1).transpose(1, 2)
