"""Pinhole projection and depth back-projection (numpy, batched over leading dimensions)."""

from __future__ import annotations

import numpy as np


def project_np(points: np.ndarray, K: np.ndarray, min_depth: float = 1e-6) -> np.ndarray:
    """Project camera-frame points (..., 3) with intrinsics K (3, 3) to pixels (..., 2); NaN behind the camera."""
    points = np.asarray(points, dtype=np.float64)
    z = points[..., 2:3]
    uvw = points @ np.asarray(K, dtype=np.float64).T
    return uvw[..., :2] / np.where(z > min_depth, z, np.nan)


def backproject_np(depth: np.ndarray, K: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Return camera-frame points (N, 3) of the pixels with a finite, positive depth (metres) inside ``mask``."""
    depth = np.asarray(depth)
    valid = np.isfinite(depth) & (depth > 0)
    if mask is not None:
        if mask.shape != depth.shape:
            raise ValueError(f"mask {mask.shape} and depth {depth.shape} differ in shape")
        valid &= mask
    v, u = np.nonzero(valid)
    z = depth[v, u].astype(np.float64)
    K = np.asarray(K, dtype=np.float64)
    x = (u + 0.0 - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) * z / K[0, 0]
    y = (v - K[1, 2]) * z / K[1, 1]
    return np.stack([x, y, z], axis=1)
