"""The vertical axis of an upright solid of revolution (a mug's body, a can, a bowl, a bottle), fitted to its
observed surface points.

The axis is a circle in the horizontal plane whose radius may change with height (tapered or bulged walls):
a robust Gauss-Newton fit of the centre and one radius per height band. Only points within a gate of the wall
take part; the gate starts at half the radius and shrinks by GATE_SHRINK per round to the larger of a trim
distance and three robust standard deviations, so that a handle or stray readings on one side end up outside
it. Pure numpy; heights and positions in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Height bands of the body with their own radius (tapered, bulged walls).
RADIUS_BANDS = 5
#: The fit's gate shrinks by this factor per round (see :func:`fit_body_axis`).
GATE_SHRINK = 0.7
#: The centroid of the half of a circle that faces the camera lies this share of the radius in front of the centre.
SEEN_WALL_DEPTH = 2.0 / np.pi
#: A fitted axis is believed when its centre moved at most MAX_AXIS_SHIFT start radii and no band's radius grew
#: past MAX_RADIUS_GROWTH start radii (:func:`plausible_axis`). A partial, noisy wall that is nearly straight fits a
#: circle of any size: on the heavy shape set such fits ran off by up to 29 m and gave mugs 75 m wide. Right fits
#: from a box posed at a wrong yaw move up to about 0.65 start radii.
MAX_AXIS_SHIFT, MAX_RADIUS_GROWTH = 3.0, 3.0
#: :func:`centre_on_axis` moves a centre by at most this many start radii.
ON_AXIS_SHIFT = 0.5


@dataclass(frozen=True)
class BodyAxis:
    """A fitted vertical axis: its horizontal centre, the radius per height band, and the fit's residual."""

    centre: np.ndarray  # (2,) horizontal coordinates in the (e1, e2) basis of :func:`horizontal_basis`
    radii: np.ndarray  # (RADIUS_BANDS,) metres
    band_edges: np.ndarray  # (RADIUS_BANDS + 1,) heights
    rms: float  # RMS radial residual of the inliers (metres)
    inliers: int

    def radius_at(self, heights: np.ndarray) -> np.ndarray:
        """The wall radius at ``heights`` (N,) (the nearest band's)."""
        band = np.clip(np.searchsorted(self.band_edges, heights, side="right") - 1, 0, len(self.radii) - 1)
        return self.radii[band]

    def point(self, up: np.ndarray, height: float) -> np.ndarray:
        """The axis point (3,) at ``height`` along ``up`` (the direction the fit's (e1, e2) basis was made from)."""
        u = np.asarray(up, np.float64) / np.linalg.norm(up)
        e1, e2 = horizontal_basis(u)
        return self.centre[0] * e1 + self.centre[1] * e2 + float(height) * u


def horizontal_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (e1, e2) that with ``up`` make a right-handed frame (e1, up, e2): e1 x up = e2."""
    u = np.asarray(up, np.float64)
    u = u / np.linalg.norm(u)
    seed = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    e1 = seed - u * (seed @ u)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(e1, u)


def fit_body_axis(xy: np.ndarray, heights: np.ndarray, centre0: np.ndarray, radius0: float, bottom: float,
                  top: float, iterations: int = 12, trim: float = 0.005) -> BodyAxis | None:
    """Robust fit of a vertical axis to points with horizontal coordinates ``xy`` (N, 2) and ``heights`` (N,).

    Starts from ``centre0`` (2,) and ``radius0``; the body spans [bottom, top]. Only points whose radial
    residual is within a gate take part; the gate starts at half the radius and shrinks by GATE_SHRINK per
    round to the larger of ``trim`` metres and 3 robust standard deviations (1.4826 MAD) of the residuals
    within it, so that a handle (a quarter of the points, all outside on one side) ends up outside it. None
    when too few points are left.
    """
    edges = np.linspace(bottom, top, RADIUS_BANDS + 1)
    band = np.clip(np.searchsorted(edges, heights, side="right") - 1, 0, RADIUS_BANDS - 1)
    c = np.asarray(centre0, np.float64).copy()
    radii = np.full(RADIUS_BANDS, float(radius0))
    gate0 = max(0.5 * radius0, 3 * trim)
    rms, keep = np.inf, np.zeros(len(xy), bool)
    for it in range(iterations):
        d = xy - c
        dist = np.linalg.norm(d, axis=1)
        res = dist - radii[band]
        inner = np.abs(res) < gate0
        mad = 1.4826 * float(np.median(np.abs(res[inner]))) if inner.any() else 0.0
        gate = max(trim, 3.0 * mad, gate0 * GATE_SHRINK ** it)
        keep = np.abs(res) < gate
        if keep.sum() < 3 * (RADIUS_BANDS + 2):
            return None
        n = d[keep] / np.maximum(dist[keep, None], 1e-9)
        # residual r_i = |p_i - c| - radius_b: d r / d c = -n_i, d r / d radius_b = -1
        J = np.zeros((int(keep.sum()), 2 + RADIUS_BANDS))
        J[:, :2] = -n
        J[np.arange(len(n)), 2 + band[keep]] = -1.0
        present = J[:, 2:].any(0)
        A = J.T @ J + np.diag(np.r_[0.0, 0.0, (~present).astype(float)]) + 1e-9 * np.eye(2 + RADIUS_BANDS)
        step = np.linalg.solve(A, -J.T @ res[keep])
        c += step[:2]
        radii += step[2:]
        radii[~present] = np.median(radii[present])
        rms = float(np.sqrt(np.mean(res[keep] ** 2)))
    return BodyAxis(c, radii, edges, rms, int(keep.sum()))


def plausible_axis(axis: BodyAxis | None, centre0: np.ndarray, radius0: float, max_shift: float = MAX_AXIS_SHIFT
                   ) -> bool:
    """Whether ``axis`` (a :func:`fit_body_axis` result from ``centre0`` (2,) and ``radius0``) stayed near its
    start: finite, its centre within ``max_shift`` x ``radius0`` of ``centre0``, no radius above
    MAX_RADIUS_GROWTH x ``radius0``."""
    if axis is None or not (np.all(np.isfinite(axis.centre)) and np.all(np.isfinite(axis.radii))):
        return False
    return bool(np.linalg.norm(axis.centre - np.asarray(centre0, np.float64)) <= max_shift * radius0
                and np.max(axis.radii) <= MAX_RADIUS_GROWTH * radius0)


def centre_on_axis(points: np.ndarray, centre: np.ndarray, up: np.ndarray, radius: float, height: float
                   ) -> np.ndarray:
    """``centre`` (3,) of an upright solid of revolution moved across ``up`` onto the axis fitted to its observed
    points (N, 3), ``radius`` and ``height`` (metres) its size so far (the camera at the origin).

    The axis is fitted from two starts: ``centre`` with ``radius``, and the points' own guess, which needs no fit
    (:func:`points_axis_guess`). Of the fits that moved at most half their start radius and did not double it, the
    one the wall points follow best (median radial residual) is taken; when neither did, ``centre`` stays where it
    was (a partial view can hold too little of the wall)."""
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    c = np.asarray(centre, np.float64)
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    e1, e2 = horizontal_basis(u)
    base = float(c @ u)
    xy, h = np.stack((pts @ e1, pts @ e2), 1), pts @ u
    c0 = np.array([c @ e1, c @ e2])
    starts = [(c0, float(radius))]
    if len(pts):
        starts.append(points_axis_guess(xy))
    best, best_score = None, np.inf
    for start, r0 in starts:
        if not r0 > 0:
            continue
        axis = fit_body_axis(xy, h, start, r0, base - 0.5 * height, base + 0.5 * height)
        if not plausible_axis(axis, start, r0, ON_AXIS_SHIFT):
            continue
        score = float(np.median(np.abs(np.linalg.norm(xy - axis.centre, axis=1) - axis.radius_at(h))))
        if score < best_score:
            best, best_score = axis, score
    if best is None:
        return c
    shift = best.centre - c0
    return c + shift[0] * e1 + shift[1] * e2


def points_axis_guess(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """A first guess of an upright body's axis (horizontal centre (2,), radius) from its seen wall's horizontal
    coordinates ``xy`` (N, 2) alone, the camera at the origin: the radius is half the points' spread across the
    line of sight, and the axis lies SEEN_WALL_DEPTH of it beyond their centroid along the line of sight."""
    mean = xy.mean(0)
    sight = mean / max(float(np.linalg.norm(mean)), 1e-9)
    across = np.array([-sight[1], sight[0]])
    lateral = xy @ across
    r = 0.5 * float(np.percentile(lateral, 99) - np.percentile(lateral, 1))
    return mean + SEEN_WALL_DEPTH * r * sight, r
