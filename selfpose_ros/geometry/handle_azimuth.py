"""A side protrusion (a mug's handle) on an upright solid of revolution, found in its observed surface points.

The body's vertical axis is fitted first (``geometry.body_axis``). Points that then stand out of the wall by
more than ``min_reach`` (and less than ``max_reach`` body radii) between ``low`` and ``high`` of the body's
height are the protrusion's candidates; their azimuths are voted in a circular histogram, and the protrusion is
found when the peak holds enough points and most of the candidates. Its azimuth is the circular mean of the
candidates near the peak. Pure numpy; heights and positions in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfpose_ros.geometry.body_axis import BodyAxis, fit_body_axis, horizontal_basis, plausible_axis

#: Width (degrees) of the azimuth histogram's bins, and its smoothing window's half width (bins).
BIN_DEG, SMOOTH_BINS = 5.0, 2
#: The candidates near the peak: within this many degrees of it.
PEAK_HALF_WIDTH_DEG = 25.0
#: ``wall_sigmas`` for a cloud fused over views: its wall is thick (views whose depth disagrees by millimetres; on
#: the DDS fusion test's mug, a robust std of 3.4-3.9 mm against a handle 2 cm out).
FUSED_WALL_SIGMAS = 3.0
#: A protrusion that faces the viewer is seen edge-on: a thin strip in front of the wall, few points. With a viewer
#: given, candidates within FRONT_HALF_WIDTH_DEG of the azimuth towards it are found from FRONT_MIN_POINTS on.
FRONT_HALF_WIDTH_DEG, FRONT_MIN_POINTS = 30.0, 3
#: The candidates at the histogram's peak needed to find a protrusion (``find_protrusion(min_points=)``). 8 until
#: stop 29; 5 finds more of the handles that heavy depth (edge dropouts, flying pixels) leaves a few points of: mug
#: 10°5cm on the third default set 86.7 -> 91.7 % for both back-ends, and no held-out set lost.
MIN_PROTRUSION_POINTS = 5
#: :func:`voted_direction`: a direction is voted once this many votes agree within HANDLE_VOTE_DEG of their median.
MIN_HANDLE_VOTES, HANDLE_VOTE_DEG = 3, 15.0


@dataclass(frozen=True)
class Protrusion:
    """What :func:`find_protrusion` found: whether, the azimuth (radians, in the (e1, e2) basis), its support."""

    found: bool
    azimuth: float  # atan2 along (e1, e2); nan when not found
    points: int  # candidates within PEAK_HALF_WIDTH_DEG of the peak
    candidates: int  # all points standing out of the wall
    axis: BodyAxis | None
    reason: str = ""
    reach: float = float("nan")  # metres from the axis to the protrusion's far end (95th percentile); nan: not found


def find_protrusion(points: np.ndarray, up: np.ndarray, centre: np.ndarray, radius: float, bottom: float,
                    top: float, *, min_reach: float = 0.004, min_reach_share: float = 0.12,
                    max_reach: float = 1.3, low: float = 0.1, high: float = 0.95,
                    min_points: int = MIN_PROTRUSION_POINTS,
                    min_share: float = 0.008, min_concentration: float = 0.6, axis: BodyAxis | None = None,
                    wall_sigmas: float = 0.0, viewer: np.ndarray | None = None) -> Protrusion:
    """Find a side protrusion of an upright solid of revolution in its observed points (N, 3).

    ``up`` (3,) is the axis direction; ``centre`` (3,) a first guess of a point on the axis, ``radius`` of the
    wall radius; heights are along ``up`` (``points @ up``), the body spans [``bottom``, ``top``]. A point is a
    candidate when it stands out of the wall by more than max(``min_reach``, ``min_reach_share`` x radius) and
    less than ``max_reach`` radii, between ``low`` and ``high`` of the height, and, with ``wall_sigmas`` > 0, by
    more than that many times the wall's own scatter (the robust std of all band points' distances to the wall: a
    cloud fused over views whose depth disagrees by millimetres has a thick wall). The protrusion is found when the
    candidates within PEAK_HALF_WIDTH_DEG of the histogram's peak number at least ``min_points`` and
    ``min_share`` of all points, and are at least ``min_concentration`` of all candidates. ``axis``: a body
    axis fitted elsewhere, in the (e1, e2) basis of :func:`horizontal_basis` (default: :func:`fit_body_axis`, not
    found when it is not :func:`plausible_axis`).
    ``viewer`` (3,): where the points were seen from; a protrusion facing it is seen edge-on, so one is also
    found when FRONT_MIN_POINTS candidates lie within FRONT_HALF_WIDTH_DEG of the azimuth towards it and make up
    ``min_concentration`` of all candidates.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    e1, e2 = horizontal_basis(u)
    xy = np.stack((pts @ e1, pts @ e2), 1)
    h = pts @ u
    if axis is None:
        c0 = np.array([np.asarray(centre) @ e1, np.asarray(centre) @ e2])
        axis = fit_body_axis(xy, h, c0, radius, bottom, top)
        if axis is not None and not plausible_axis(axis, c0, radius):
            return Protrusion(False, float("nan"), 0, 0, None, "the body axis fit ran away from the body")
    if axis is None:
        return Protrusion(False, float("nan"), 0, 0, None, "too few points on the body's wall")
    d = xy - axis.centre
    out = np.linalg.norm(d, axis=1) - axis.radius_at(h)
    r = float(np.median(axis.radii))
    height = top - bottom
    band = (h > bottom + low * height) & (h < bottom + high * height)
    reach = max(min_reach, min_reach_share * r)
    if wall_sigmas > 0 and band.any():
        wall = out[band]
        reach = max(reach, wall_sigmas * 1.4826 * float(np.median(np.abs(wall - np.median(wall)))))
    cand = (out > reach) & (out < max_reach * r) & band
    n_cand = int(cand.sum())
    az = np.arctan2(d[cand, 1], d[cand, 0])
    front = None
    if viewer is not None and n_cand >= FRONT_MIN_POINTS:
        front = _facing_viewer(az, d[cand], axis, np.asarray(viewer, np.float64), e1, e2, min_concentration)
    if n_cand < min_points:
        return front or Protrusion(False, float("nan"), 0, n_cand, axis,
                                   f"{n_cand} points outside the wall < {min_points}")
    bins = int(round(360.0 / BIN_DEG))
    hist = np.bincount(((az + np.pi) / (2 * np.pi) * bins).astype(int) % bins, minlength=bins).astype(float)
    smooth = sum(np.roll(hist, k) for k in range(-SMOOTH_BINS, SMOOTH_BINS + 1))
    peak = -np.pi + (np.argmax(smooth) + 0.5) * 2 * np.pi / bins
    near = np.abs(np.angle(np.exp(1j * (az - peak)))) <= np.radians(PEAK_HALF_WIDTH_DEG)
    n = int(near.sum())
    azimuth = float(np.angle(np.exp(1j * az[near]).mean()))
    if n < min_points or n < min_share * len(pts) or n < min_concentration * n_cand:
        return front or Protrusion(False, azimuth, n, n_cand, axis,
                                   f"{n} of {n_cand} points outside the wall at the peak (of {len(pts)})")
    reach = float(np.percentile(np.linalg.norm(d[cand][near], axis=1), 95.0))
    return Protrusion(True, azimuth, n, n_cand, axis, reach=reach)


def _facing_viewer(az: np.ndarray, d: np.ndarray, axis: BodyAxis, viewer: np.ndarray, e1: np.ndarray,
                   e2: np.ndarray, min_concentration: float) -> Protrusion | None:
    """The protrusion found among candidates (azimuths ``az``, offsets ``d`` (M, 2) from the axis) that face the
    ``viewer``, when FRONT_MIN_POINTS of them do and they are ``min_concentration`` of all; else None."""
    towards = np.array([viewer @ e1, viewer @ e2]) - axis.centre
    if np.linalg.norm(towards) < 1e-9:
        return None
    facing = np.abs(np.angle(np.exp(1j * (az - np.arctan2(towards[1], towards[0]))))) \
        <= np.radians(FRONT_HALF_WIDTH_DEG)
    n = int(facing.sum())
    if n < FRONT_MIN_POINTS or n < min_concentration * len(az):
        return None
    azimuth = float(np.angle(np.exp(1j * az[facing]).mean()))
    reach = float(np.percentile(np.linalg.norm(d[facing], axis=1), 95.0))
    return Protrusion(True, azimuth, n, len(az), axis, reason="faces the viewer", reach=reach)


def box_body_axis(R: np.ndarray, t: np.ndarray, size: np.ndarray) -> np.ndarray:
    """A point (3,) on the body axis of a box (R canonical -> frame, t its centre, ``size`` its metric extents)
    holding a body of revolution with a protrusion along +X: (size_x - size_z) / 2 from the centre towards -X
    when the box is longer in x than in z, else the centre."""
    R, t = np.asarray(R, np.float64), np.asarray(t, np.float64)
    sx, sz = float(size[0]), float(size[2])
    return t + R[:, 0] * (0.5 * sz - 0.5 * sx) if sx > sz else t


def face_protrusion(R: np.ndarray, t: np.ndarray, size: np.ndarray, points: np.ndarray, up: np.ndarray,
                    wall_sigmas: float = 0.0, viewer: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Protrusion]:
    """(R, t, size, found): an upright box pose turned about its body axis so that its +X faces the protrusion.

    The box (R canonical -> frame, t its centre, ``size`` its metric extents) is a body of revolution whose
    diameter is the smaller of the x and z extents, with the protrusion along +X (:func:`box_body_axis`).
    ``points`` (N, 3) and ``up`` (3,) in the same frame. When a protrusion is found, +X points at it, the centre
    moves with the fitted axis, and the size is (larger, y, smaller) of x and z; otherwise the inputs come back
    unchanged. ``wall_sigmas`` and ``viewer``: as :func:`find_protrusion`.
    """
    R, t = np.asarray(R, np.float64), np.asarray(t, np.float64)
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    sx, sy, sz = (float(v) for v in size)
    base = float(t @ u)
    found = find_protrusion(points, u, box_body_axis(R, t, size), 0.5 * min(sx, sz), base - 0.5 * sy,
                            base + 0.5 * sy, wall_sigmas=wall_sigmas, viewer=viewer)
    if not found.found:
        return R, t, np.asarray(size, np.float64), found
    e1, e2 = horizontal_basis(u)
    x = np.cos(found.azimuth) * e1 + np.sin(found.azimuth) * e2
    return (*face_direction(R, t, size, x, u, found.axis), found)


def face_direction(R: np.ndarray, t: np.ndarray, size: np.ndarray, direction: np.ndarray, up: np.ndarray,
                   axis: BodyAxis | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, t, size): an upright box holding a body of revolution with a protrusion along +X (as
    :func:`face_protrusion`) turned about its body axis so that +X points along ``direction`` (3,) made
    horizontal; the size is (larger, y, smaller) of x and z. The axis is ``axis`` (a fitted one, in the (e1, e2)
    basis of :func:`horizontal_basis`) or the box's own (:func:`box_body_axis`). A vertical ``direction`` gives the
    inputs back."""
    R, t = np.asarray(R, np.float64), np.asarray(t, np.float64)
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    x = np.asarray(direction, np.float64) - u * (np.asarray(direction, np.float64) @ u)
    if np.linalg.norm(x) < 1e-9:
        return R, t, np.asarray(size, np.float64)
    x /= np.linalg.norm(x)
    sx, sy, sz = (float(v) for v in size)
    base = float(t @ u)
    centre = axis.point(u, base) if axis is not None else box_body_axis(R, t, size)
    centre = centre + u * (base - float(centre @ u))
    size_new = np.array([max(sx, sz), sy, min(sx, sz)])
    return np.stack((x, u, np.cross(x, u)), axis=1), centre + x * 0.5 * (size_new[0] - size_new[2]), size_new


def measured_body_box(R: np.ndarray, t: np.ndarray, size: np.ndarray, found: Protrusion, up: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(t, size) of an upright box holding a body of revolution with a protrusion along +X, measured from the
    body axis that ``found`` fitted: the diameter is twice the largest band radius. When the protrusion was
    found, the length along x is that radius plus its reach and the centre follows the fitted axis (height
    kept); otherwise the length is the box's own (at least the diameter) and the centre is kept, since the
    side the protrusion is on is unknown. Without a fitted axis the inputs come back unchanged.
    """
    t, size = np.asarray(t, np.float64), np.asarray(size, np.float64)
    if found.axis is None or not np.isfinite(found.axis.radii).all():
        return t, size
    radius = float(np.max(found.axis.radii))
    sx, sy, sz = (float(v) for v in size)
    if not (found.found and np.isfinite(found.reach) and found.reach > radius):
        return t, np.array([max(sx, 2.0 * radius), sy, 2.0 * radius])
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    x = np.asarray(R, np.float64)[:, 0]
    return (found.axis.point(u, float(t @ u)) + x * 0.5 * (found.reach - radius),
            np.array([radius + found.reach, sy, 2.0 * radius]))


def hidden_protrusion_box(R: np.ndarray, t: np.ndarray, size: np.ndarray, found: Protrusion, up: np.ndarray,
                          away_share: float, min_length_ratio: float = 0.0
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, t, size) of an upright box whose protrusion was not found (``found.found`` False, its body axis fitted;
    ``size`` as :func:`measured_body_box` gives it), the camera at the origin: +X turned away from the camera
    and the centre ``away_share`` of the way from the body axis to where a protrusion straight behind the body
    would put it (half the box's length beyond the diameter). A protrusion in view is mostly found, so one that
    is not lies behind more often than not. The box is at least ``min_length_ratio`` times its diameter long (its
    length along the protrusion is unmeasured). Without a fitted axis, or when one was found, the inputs come back.
    """
    R, t, size = (np.asarray(a, np.float64) for a in (R, t, size))
    if found.found or found.axis is None or not np.isfinite(found.axis.radii).all():
        return R, t, size
    u = np.asarray(up, np.float64) / np.linalg.norm(up)
    axis = found.axis.point(u, float(t @ u))
    away = axis - u * (axis @ u)
    if np.linalg.norm(away) < 1e-9:
        return R, t, size
    away /= np.linalg.norm(away)
    length, diameter = max(float(size[0]), float(size[2])), min(float(size[0]), float(size[2]))
    length = max(length, min_length_ratio * diameter)
    R_new = np.stack((away, u, np.cross(away, u)), axis=1)
    return R_new, axis + away * away_share * 0.5 * (length - diameter), np.array([length, size[1], diameter])


def voted_direction(votes: np.ndarray, up: np.ndarray, min_votes: int = MIN_HANDLE_VOTES,
                    within_deg: float = HANDLE_VOTE_DEG) -> np.ndarray | None:
    """The horizontal direction (3,) that direction votes (N, 3) agree on: the circular mean of the azimuths about
    ``up`` within ``within_deg`` of their circular median, when at least ``min_votes`` are; else None."""
    votes = np.asarray(votes, np.float64).reshape(-1, 3)
    if len(votes) < min_votes:
        return None
    e1, e2 = horizontal_basis(np.asarray(up, np.float64) / np.linalg.norm(up))
    az = np.arctan2(votes @ e2, votes @ e1)
    apart = np.abs(np.angle(np.exp(1j * (az[:, None] - az[None, :]))))
    near = apart[np.argmin(apart.sum(axis=1))] <= np.radians(within_deg)
    if near.sum() < min_votes:
        return None
    a = float(np.angle(np.exp(1j * az[near]).mean()))
    return np.cos(a) * e1 + np.sin(a) * e2
