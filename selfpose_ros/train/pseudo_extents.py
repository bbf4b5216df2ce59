"""Per-instance box of a trajectory-fused cloud: the metric per-axis size the shape code is supervised with.

The prior fit (``geometry.prior_fit``) gives the canonical orientation and a single scale of the *prior's*
proportions. The instance's own proportions come from the fused multi-view cloud itself, in the fitted
canonical orientation, by a few rounds of:

1. keep the points within ``outlier_fraction`` of the fitted diagonal of the prior *stretched to the current
   box* (mask bleeding, neighbours and the table fall away; a tall can's top is kept once the box has grown);
2. the box: robust percentiles along each axis (``LOW_PERCENTILE``, ``HIGH_PERCENTILE``); for solids of
   revolution (continuous symmetry about +Y) the height, and the radius about a circle fitted to the
   points' (x, z) (so an off-centre fitted axis does not inflate it).

The pseudo-label then uses the NOCS canonical frame of *this* instance: box centre as translation, box
diagonal as scale.
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


def circle_centre(xz: np.ndarray) -> np.ndarray:
    """Least-squares (Kasa) centre (2,) of points (N,2) lying on circles about one vertical axis."""
    A = np.concatenate((2.0 * xz, np.ones((len(xz), 1))), 1)
    b = (xz**2).sum(1)
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    return sol[:2]


#: Trimmed share (percent) at the low and high end of each canonical axis: x keeps thin parts (the mug's
#: handle), the bottom of y drops the support's noisy points, the rest trims flying pixels.
LOW_PERCENTILE = np.array([0.2, 0.8, 0.5])
HIGH_PERCENTILE = np.array([0.2, 0.5, 0.5])


def _box(local: np.ndarray, symmetry: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([np.percentile(local[:, k], scale * LOW_PERCENTILE[k]) for k in range(3)])
    hi = np.array([np.percentile(local[:, k], 100.0 - scale * HIGH_PERCENTILE[k]) for k in range(3)])
    centre, ext = 0.5 * (lo + hi), hi - lo
    if symmetry == "continuous_y":
        c = circle_centre(local[:, [0, 2]])
        r = float(np.percentile(np.hypot(local[:, 0] - c[0], local[:, 2] - c[1]), 100.0 - scale * 0.5))
        centre = np.array([c[0], centre[1], c[1]])
        ext = np.array([2 * r, ext[1], 2 * r])
    return centre, ext


def fused_box(points: np.ndarray, R: np.ndarray, t: np.ndarray, scale: float, prior: np.ndarray, symmetry: str,
              outlier_fraction: float = 0.12, percentile_scale: float = 1.0, min_points: int = 50,
              max_ratio: float = 1.6, rounds: int = 3) -> InstanceBox:
    """The robust box of fused ``points`` (N,3) for a prior fit (R, t, scale) of ``prior`` (M,3, unit diagonal).

    ``max_ratio``: a box whose diagonal differs from the fitted scale by more than this factor is not valid;
    ``percentile_scale`` multiplies the trimmed shares of ``LOW_PERCENTILE`` / ``HIGH_PERCENTILE``.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    local_all = (pts - np.asarray(t, np.float64)) @ np.asarray(R, np.float64)  # R^T (p - t), metres
    prior = np.asarray(prior, np.float64)
    prior_ext = np.maximum(prior.max(0) - prior.min(0), 1e-9)
    placed = prior * float(scale)
    fallback = placed.max(0) - placed.min(0)
    centre = np.zeros(3)
    local = local_all[:0]
    for _ in range(max(1, rounds)):
        if len(local_all) == 0:
            break
        dist, _ = cKDTree(placed + centre).query(local_all, k=1)
        local = local_all[dist <= outlier_fraction * float(scale)]
        if len(local) < min_points:
            break
        centre, ext = _box(local, symmetry, percentile_scale)
        placed = prior * (ext / prior_ext)  # the prior stretched onto the current box
    if len(local) < min_points:
        return InstanceBox(np.zeros(3), fallback, len(local), False)
    diag = float(np.linalg.norm(ext))
    ok = bool(np.all(ext > 0) and 1.0 / max_ratio <= diag / float(scale) <= max_ratio)
    if not ok:
        return InstanceBox(np.zeros(3), fallback, len(local), False)
    return InstanceBox(centre, ext, len(local), True)
