"""Free-space checks: does a depth image see through points that should be there?

A point in front of the camera that projects onto a pixel whose measured depth lies well *behind* it is
contradicted: the ray to that pixel passed through the point's place and hit something farther away, so
nothing is there any more. A measured depth in front of the point (an occluder) or no reading says nothing.
Depth is min-filtered over a small window first, so a point on an object's silhouette is not contradicted
by the background next to it; pixels without a reading are ignored by the filter.

For a fitted model with normals (:func:`facing_seen_through`, :func:`seen_through_share`), only its points that
face the camera count, and only on ``free`` pixels (away from the object's own surface, so the silhouette's rim,
where depth and mask disagree by a pixel, never does): a model too tall (``geometry.axis_scales`` pulls it in),
or a laptop turned by 180 degrees whose base would lie in front of its lid where the camera sees the table
(``inference.template_fit`` ranks such a yaw lower).
"""

from __future__ import annotations

import cv2
import numpy as np


def nearest_depth(depth: np.ndarray, window: int = 5) -> np.ndarray:
    """The smallest valid depth (metres) in a ``window`` x ``window`` neighbourhood of each pixel; inf if none."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd number >= 1, got {window}")
    d = np.where(np.isfinite(depth) & (depth > 0), depth, np.inf).astype(np.float32)
    return cv2.erode(d, np.ones((window, window), np.uint8), borderType=cv2.BORDER_CONSTANT,
                     borderValue=float("inf"))


def seen_through(points_cam: np.ndarray, near_depth: np.ndarray, K: np.ndarray, margin: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per point (N, 3) in the camera frame: (checked (N,) bool, seen through (N,) bool).

    ``near_depth`` is :func:`nearest_depth` of the frame; a point is checked when it lies in front of the
    camera, inside the image, on a pixel with a reading nearby, and seen through when that reading is more
    than ``margin`` metres behind it.
    """
    p = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
    h, w = near_depth.shape
    z = p[:, 2]
    front = z > 1e-3
    safe_z = np.where(front, z, 1.0)
    u = np.floor(K[0, 0] * p[:, 0] / safe_z + K[0, 2]).astype(np.int64)
    v = np.floor(K[1, 1] * p[:, 1] / safe_z + K[1, 2]).astype(np.int64)
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    measured = np.full(len(p), np.inf)
    measured[inside] = near_depth[v[inside], u[inside]]
    checked = inside & np.isfinite(measured)
    return checked, checked & (measured > z + margin)


def facing_seen_through(points: np.ndarray, normals: np.ndarray, depth: np.ndarray, K: np.ndarray,
                        free: np.ndarray, margin: float) -> tuple[np.ndarray, int]:
    """Indices of camera-frame points (N, 3) with normals (N, 3) that face the camera and project onto a
    ``free`` (H, W) pixel whose ``depth`` (H, W, metres) reading is more than ``margin`` behind them, and the
    number of facing points that project into the image."""
    x = np.asarray(points, np.float64)
    n = np.asarray(normals, np.float64)
    idx = np.flatnonzero(((n * x).sum(1) < 0) & (x[:, 2] > 1e-3))
    uvw = x[idx] @ np.asarray(K, np.float64).T
    u = np.round(uvw[:, 0] / uvw[:, 2]).astype(np.int64)
    v = np.round(uvw[:, 1] / uvw[:, 2]).astype(np.int64)
    h, w = depth.shape
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    idx, u, v = idx[inside], u[inside], v[inside]
    z_meas = depth[v, u]
    with np.errstate(invalid="ignore"):
        through = free[v, u] & np.isfinite(z_meas) & (z_meas > x[idx, 2] + margin)
    return idx[through], len(idx)


def seen_through_share(points: np.ndarray, normals: np.ndarray, scale: float, rotation: np.ndarray,
                       translation: np.ndarray, depth: np.ndarray, K: np.ndarray, free: np.ndarray,
                       margin: float) -> float:
    """Share of a similarity-placed model's (canonical points (N, 3), normals (N, 3); ``x = s R p + t``)
    camera-facing points in the image that the camera sees through (:func:`facing_seen_through`); 0 when none
    face it."""
    R = np.asarray(rotation, np.float64)
    x = float(scale) * np.asarray(points, np.float64) @ R.T + np.asarray(translation, np.float64)
    through, facing = facing_seen_through(x, np.asarray(normals, np.float64) @ R.T, depth, K, free, margin)
    return len(through) / facing if facing else 0.0
