"""Direct measurements of an upright object standing on its support plane: height and radius from its points.

A shape fit sizes an object from how its model covers the observed surface, and some views leave that
ambiguous: looking into a bowl, a smaller bowl nested inside the real one covers the inner surface as well
as the right one does. When the object stands upright on a known support plane, two extents can be read off
its own surface instead:
- **height**: its highest points above the plane (a high percentile, against flying pixels). From any view
  above or level with the object's top, the top (a rim, a lid, a cap) is the upper edge of its silhouette;
  it is a lower bound when the top may be hidden (cut off by the image border, or behind a nearer object);
- **radius** (solids of revolution): the points' distance from the vertical axis through the fitted centre.
  A camera sees up to half the circumference at the full radius, wherever it stands.

Frames and units: camera frame, metres. Functions accept batched leading dimensions where stated.
"""

from __future__ import annotations

import numpy as np

from selfpose_ros.geometry.support_plane import Plane

#: Percentile of the heights above the plane taken as the object's top (robust to a few flying pixels).
HEIGHT_PERCENTILE = 99.0
#: Percentile of the distances from the axis taken as the radius.
RADIUS_PERCENTILE = 98.0


def height_above_plane(points: np.ndarray, plane: Plane, percentile: float = HEIGHT_PERCENTILE) -> float:
    """Robust top of points (N, 3) above ``plane``: the ``percentile`` of their signed distances (metres)."""
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    if not len(pts):
        return float("nan")
    return float(np.percentile(plane.signed_distance(pts), percentile))


def distances_from_axis(points: np.ndarray, centre: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Distances (..., N) of points (..., N, 3) from the line through ``centre`` (..., 3) along ``axis`` (..., 3)."""
    pts = np.asarray(points, np.float64)
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    rel = pts - np.asarray(centre, np.float64)[..., None, :]
    along = np.einsum("...nk,...k->...n", rel, a)
    return np.linalg.norm(rel - along[..., None] * a[..., None, :], axis=-1)


def radius_about_axis(points: np.ndarray, centre: np.ndarray, axis: np.ndarray,
                      percentile: float = RADIUS_PERCENTILE) -> float:
    """Robust radius of points (N, 3) about the line through ``centre`` along ``axis`` (metres)."""
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    if not len(pts):
        return float("nan")
    return float(np.percentile(distances_from_axis(pts, centre, axis), percentile))


def box_holding_points(rotation: np.ndarray, centre: np.ndarray, size: np.ndarray, points: np.ndarray,
                       percentile: float = RADIUS_PERCENTILE, axes: tuple[int, ...] = (0, 1, 2),
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The smallest box (centre (3,), size (3,)) that holds a box (``rotation`` (3, 3) box -> camera, ``centre``
    (3,), ``size`` (3,)) and, along ``axes``, the central ``percentile`` band of the points (N, 3) (the
    (100 - percentile)-th to the percentile-th of their coordinates): an object's own points lie on it, so a box
    that leaves them out is too small. Without finite points the box is returned as it is."""
    R = np.asarray(rotation, np.float64)
    c = np.asarray(centre, np.float64)
    s = np.asarray(size, np.float64).copy()
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    if not len(pts):
        return c, s
    q = (pts - c) @ R  # box coordinates
    lo, hi = -s / 2, s / 2
    shift = np.zeros(3)
    for a in axes:
        p_lo, p_hi = np.percentile(q[:, a], [100.0 - percentile, percentile])
        new_lo, new_hi = min(lo[a], p_lo), max(hi[a], p_hi)
        s[a], shift[a] = new_hi - new_lo, 0.5 * (new_lo + new_hi)
    return c + R @ shift, s
