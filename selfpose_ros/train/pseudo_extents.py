"""Per-instance box of a trajectory-fused cloud: the metric per-axis size the shape code is supervised with.

The prior fit (``geometry.prior_fit``) gives the canonical orientation and a single scale of the *prior's*
proportions. The instance's own proportions come from the fused multi-view cloud itself: in the fitted
canonical orientation, points farther than ``outlier_fraction`` of the fitted diagonal from the placed prior
are dropped (mask bleeding, neighbours, the table), and robust percentiles give each axis' extent; solids of
revolution (continuous symmetry about +Y) take height and one radius about the fitted axis. The pseudo-label
then uses the NOCS canonical frame of *this* instance: box centre as translation, box diagonal as scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class InstanceBox:
    """An instance's box in the fitted canonical orientation: centre offset and extents, metres."""

    centre: np.ndarray  #: (3,) box centre in the fit's canonical axes, relative to the fit's translation
    extents: np.ndarray  #: (3,) metres
    points: int  #: fused points that survived the outlier test
    valid: bool  #: False when too few points survive or the box disagrees wildly with the fit's scale


def fused_box(points: np.ndarray, R: np.ndarray, t: np.ndarray, scale: float, prior: np.ndarray, symmetry: str,
              outlier_fraction: float = 0.15, percentile: float = 1.0, min_points: int = 50,
              max_ratio: float = 1.6) -> InstanceBox:
    """The robust box of fused ``points`` (N,3) for a prior fit (R, t, scale) of ``prior`` (M,3, unit diagonal).

    ``max_ratio``: a box whose diagonal differs from the fitted scale by more than this factor is not valid.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    local = (pts - np.asarray(t, np.float64)) @ np.asarray(R, np.float64)  # R^T (p - t), metres
    placed = np.asarray(prior, np.float64) * float(scale)
    if len(local):
        dist, _ = cKDTree(placed).query(local, k=1)
        local = local[dist <= outlier_fraction * float(scale)]
    fallback_ext = (placed.max(0) - placed.min(0))
    if len(local) < min_points:
        return InstanceBox(np.zeros(3), fallback_ext, len(local), False)
    lo, hi = np.percentile(local, [percentile, 100.0 - percentile], axis=0)
    centre, ext = 0.5 * (lo + hi), hi - lo
    if symmetry == "continuous_y":
        r = float(np.percentile(np.hypot(local[:, 0], local[:, 2]), 100.0 - 2 * percentile))
        centre = np.array([0.0, centre[1], 0.0])
        ext = np.array([2 * r, ext[1], 2 * r])
    diag = float(np.linalg.norm(ext))
    ok = bool(np.all(ext > 0) and 1.0 / max_ratio <= diag / float(scale) <= max_ratio)
    if not ok:
        return InstanceBox(np.zeros(3), fallback_ext, len(local), False)
    return InstanceBox(centre, ext, len(local), True)
