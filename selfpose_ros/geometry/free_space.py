"""Free-space checks: does a depth image see through points that should be there?

A point in front of the camera that projects onto a pixel whose measured depth lies well *behind* it is
contradicted: the ray to that pixel passed through the point's place and hit something farther away, so
nothing is there any more. A measured depth in front of the point (an occluder) or no reading says nothing.
Depth is min-filtered over a small window first, so a point on an object's silhouette is not contradicted
by the background next to it; pixels without a reading are ignored by the filter.
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
