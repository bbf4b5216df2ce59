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
    return backproject_pixels(depth, K, np.flatnonzero(valid))


def valid_pixels(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Flat indices (N,) of the pixels inside ``mask`` (H, W) bool with a finite, positive depth, in raster order.

    Scans only the mask: cheaper than :func:`backproject_np`'s full-image test for a small mask."""
    depth = np.asarray(depth)
    if np.shape(mask) != depth.shape:
        raise ValueError(f"mask {np.shape(mask)} and depth {depth.shape} differ in shape")
    idx = np.flatnonzero(mask)
    z = depth.ravel()[idx]
    return idx[np.isfinite(z) & (z > 0)]


def backproject_pixels(depth: np.ndarray, K: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) of the given flat pixel indices (N,) of depth (H, W), metres (not checked)."""
    depth = np.asarray(depth)
    pixels = np.asarray(pixels, dtype=np.int64)
    v, u = np.divmod(pixels, depth.shape[1])
    z = depth.ravel()[pixels].astype(np.float64)
    K = np.asarray(K, dtype=np.float64)
    x = (u + 0.0 - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) * z / K[0, 0]
    y = (v - K[1, 2]) * z / K[1, 1]
    return np.stack([x, y, z], axis=1)
