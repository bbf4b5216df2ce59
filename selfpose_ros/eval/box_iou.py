"""Exact 3D IoU of oriented boxes, and its symmetry-aware maximum.

A box is ``(R, t, size)``: rotation canonical -> camera, centre in metres, full metric extents along the
canonical x, y, z axes. The intersection of two boxes is a convex polyhedron whose vertices are exactly
(a) corners of either box inside the other and (b) points where an edge of one box crosses a face plane of
the other inside that other box. We enumerate those candidates (vectorised) and take the volume of their
convex hull (``scipy.spatial.ConvexHull``). This is exact up to floating point, unlike the NOCS/Wild6D
"3D IoU", which intersects axis-aligned min/max boxes of the transformed corners (and has a wrong axis,
NOCS issue 47).

For continuous symmetry about +Y the prediction is rotated about its own Y axis and the IoU maximised:
a grid of ``grid`` angles over one period (pi, or pi/2 when the x and z extents are equal), then a
golden-section search in the bracket around the best grid angle. ``flip_y`` takes the better of 0 and pi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from selfpose_ros.geometry.rotations import rotation_about_y_np

_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
# Corner i has signs bits (x, y, z) = (i >> 2, i >> 1, i) & 1; edges join corners differing in one bit.
_EDGES = np.array([(i, i | bit) for bit in (4, 2, 1) for i in range(8) if not i & bit])


@dataclass(frozen=True)
class OrientedBox:
    """An oriented box: rotation R (3, 3), centre t (3,) in metres, full extents size (3,) in metres."""

    R: np.ndarray
    t: np.ndarray
    size: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "R", np.asarray(self.R, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "t", np.asarray(self.t, dtype=np.float64).reshape(3))
        object.__setattr__(self, "size", np.asarray(self.size, dtype=np.float64).reshape(3))
        if not (np.isfinite(self.size).all() and (self.size > 0).all()):
            raise ValueError(f"box size must be positive and finite, got {self.size}")

    @property
    def volume(self) -> float:
        """Return the box volume in cubic metres."""
        return float(np.prod(self.size))

    def corners(self) -> np.ndarray:
        """Return the 8 corners (8, 3) in the camera frame."""
        return (_SIGNS * (0.5 * self.size)) @ self.R.T + self.t

    def contains(self, points: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Return a bool mask (K,) of points (K, 3) inside the box, with slack ``tol`` metres."""
        local = np.einsum("ni,ij->nj", points - self.t, self.R)  # no BLAS threads for tall-thin products
        return (np.abs(local) <= 0.5 * self.size + tol).all(-1)

    def rotated_about_y(self, angle: float) -> OrientedBox:
        """Return the box rotated by ``angle`` radians about its own +Y axis."""
        return OrientedBox(self.R @ rotation_about_y_np(angle), self.t, self.size)


def _edge_plane_points(a: OrientedBox, b: OrientedBox, tol: float) -> np.ndarray:
    """Return the points where edges of ``a`` cross face planes of ``b`` and lie inside ``b``."""
    corners = a.corners()
    p0 = corners[_EDGES[:, 0]]
    d = corners[_EDGES[:, 1]] - p0
    normals = np.concatenate((b.R.T, -b.R.T))  # (6, 3): rows are +-axes of b
    offsets = normals @ b.t + 0.5 * np.concatenate((b.size, b.size))
    den = d @ normals.T  # (12, 6)
    num = offsets[None, :] - p0 @ normals.T
    crossing = np.abs(den) > 1e-15
    lam = num / np.where(crossing, den, 1.0)
    ok = crossing & (lam >= -1e-12) & (lam <= 1 + 1e-12)
    pts = p0[:, None, :] + lam[..., None] * d[:, None, :]
    pts = pts[ok]
    return pts[b.contains(pts, tol)]


def intersection_volume(a: OrientedBox, b: OrientedBox) -> float:
    """Return the exact volume (m^3) of the intersection of two oriented boxes."""
    reach = 0.5 * (np.linalg.norm(a.size) + np.linalg.norm(b.size))
    if np.linalg.norm(a.t - b.t) > reach:
        return 0.0
    tol = 1e-9 * max(float(a.size.max()), float(b.size.max()))
    ca, cb = a.corners(), b.corners()
    pts = np.concatenate((ca[b.contains(ca, tol)], cb[a.contains(cb, tol)],
                          _edge_plane_points(a, b, tol), _edge_plane_points(b, a, tol)))
    if len(pts) < 4:
        return 0.0
    try:
        return float(ConvexHull(pts).volume)
    except (QhullError, ValueError):  # all candidates coplanar / collinear: touching boxes, zero volume
        return 0.0


def box_iou(a: OrientedBox, b: OrientedBox) -> float:
    """Return the exact 3D IoU of two oriented boxes (symmetric in a and b)."""
    inter = intersection_volume(a, b)
    union = a.volume + b.volume - inter
    return float(inter / union) if union > 0 else 0.0


def _golden_max(f, lo: float, hi: float, tol: float) -> tuple[float, float]:
    """Maximise ``f`` on [lo, hi] by golden-section search; return (argmax, max)."""
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    f1, f2 = f(x1), f(x2)
    while hi - lo > tol:
        if f1 >= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - inv_phi * (hi - lo)
            f1 = f(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + inv_phi * (hi - lo)
            f2 = f(x2)
    return (x1, f1) if f1 >= f2 else (x2, f2)


def symmetric_box_iou(pred: OrientedBox, gt: OrientedBox, symmetry: str = "none", grid: int = 24,
                      tol_rad: float = 1e-6) -> float:
    """Return the IoU maximised over the prediction's symmetry about +Y ("none", "flip_y", "continuous_y")."""
    if symmetry in ("none", "mirror_x", "mirror_z"):
        return box_iou(pred, gt)
    if symmetry == "flip_y":
        return max(box_iou(pred, gt), box_iou(pred.rotated_about_y(math.pi), gt))
    if symmetry != "continuous_y":
        raise ValueError(f"unknown symmetry {symmetry!r}")
    square = math.isclose(pred.size[0], pred.size[2], rel_tol=1e-9)
    period = 0.5 * math.pi if square else math.pi

    def f(theta: float) -> float:
        return box_iou(pred.rotated_about_y(theta), gt)

    step = period / grid
    values = [f(k * step) for k in range(grid)]
    k = int(np.argmax(values))
    _, best = _golden_max(f, (k - 1) * step, (k + 1) * step, tol_rad)
    return float(max(best, values[k]))
