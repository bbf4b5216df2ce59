"""The mug's handle in the canonical frame (+Y up, handle along +X), and whether a view shows it.

NOCS convention: a mug whose handle is not visible is scored as a solid of revolution (any yaw is right),
because nothing in the view fixes its yaw. Training (pseudo-labels), the evaluator (ground truth) and the
tests decide visibility with one test on the *observed* depth: the instance's depth points, put into the
box frame of a pose (R, box centre t) and metric box size, must include enough points in the handle's part of
the box, i.e. beyond the body's widest wall along +X. The body is a solid of revolution whose diameter is the
box's z extent (the handle is thin in z), so that part is ``x > -size_x / 2 + 2.04 * size_z / 2``
(a box less than 1.15 diameters long in x has no handle part), and only between ``HANDLE_LOW`` and
``HANDLE_HIGH`` of the box's height: the simulator's handles sit between 0.1 and 0.92 of the cup's height
(``shapes.mug.handle_geometry``), and the bottom band is where a mask that bleeds onto the table puts its
table points (at realism heavy, half of the mugs counted as showing their handle showed only table points in
the handle's footprint).
"""

from __future__ import annotations

import numpy as np

from selfpose_ros.conventions import HANDLE_CATEGORIES
from selfpose_ros.geometry.body_axis import centre_on_axis
from selfpose_ros.geometry.handle_azimuth import box_body_axis
from selfpose_ros.geometry.pinhole import backproject_np

__all__ = ["HANDLE_CATEGORIES", "handle_region", "handle_seen_in_points", "handle_visible", "register_to_body"]
#: A view shows the handle when at least this many of its points, and this share of them, lie in the handle part.
HANDLE_MIN_POINTS = 12
HANDLE_MIN_SHARE = 0.015
#: The handle part's height band, as shares of the box's height from its bottom.
HANDLE_LOW, HANDLE_HIGH = 0.08, 0.95


def handle_region(points_box: np.ndarray, size: np.ndarray, margin: float = 0.005) -> np.ndarray:
    """Boolean (N,): box-frame points (metres, box centre at 0) in the handle part of a mug box of ``size``.

    A box less than 1.15 body diameters long in x has no room for a handle: no point is in its handle part.
    The part spans the heights HANDLE_LOW .. HANDLE_HIGH of the box (``margin`` does not widen it).
    """
    p = np.asarray(points_box, np.float64).reshape(-1, 3)
    sx, sy, sz = (float(v) for v in np.asarray(size, np.float64))
    r = 0.5 * sz
    if sx < 2.3 * r:
        return np.zeros(len(p), bool)
    wall = -0.5 * sx + 2.04 * r
    y = p[:, 1] + 0.5 * sy  # height above the box's bottom
    inside = (y >= HANDLE_LOW * sy) & (y <= HANDLE_HIGH * sy) & (np.abs(p[:, 2]) <= r) & (p[:, 0] <= 0.5 * sx + margin)
    return inside & (p[:, 0] > wall)


def register_to_body(points_cam: np.ndarray, R: np.ndarray, t: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) moved across the up axis so that the body axis fitted to them
    (``geometry.body_axis.centre_on_axis``) lies on the body axis of the mug box (R, t, size).

    The depth of a sensor with calibration errors (a depth offset, a colour-depth registration shift: the
    simulator's realism heavy) sits a centimetre or more off the true pose, which then counts the body's own
    wall in the handle's part of the box. A move of more than half the body's radius is not made.
    """
    pts = np.asarray(points_cam, np.float64).reshape(-1, 3)
    R = np.asarray(R, np.float64)
    axis = box_body_axis(R, t, size)
    return pts + (axis - centre_on_axis(pts, axis, R[:, 1], 0.5 * float(size[2]), float(size[1])))


def handle_seen_in_points(points_cam: np.ndarray, R: np.ndarray, t: np.ndarray, size: np.ndarray,
                          min_points: int = HANDLE_MIN_POINTS, min_share: float = HANDLE_MIN_SHARE,
                          register: bool = True) -> bool:
    """True when camera-frame instance points (N,3) include the handle of a mug at pose (R, t) with box ``size``.

    ``register``: the points are first moved onto the box's body axis (:func:`register_to_body`).
    """
    pts = np.asarray(points_cam, np.float64).reshape(-1, 3)
    if len(pts) == 0 or not np.all(np.isfinite(size)) or np.any(np.asarray(size) <= 0):
        return False
    if register:
        pts = register_to_body(pts, R, t, size)
    box = (pts - np.asarray(t, np.float64)) @ np.asarray(R, np.float64)
    n = int(handle_region(box, size).sum())
    return n >= min_points and n >= min_share * len(pts)


def handle_visible(R: np.ndarray, t: np.ndarray, size: np.ndarray, depth: np.ndarray, mask: np.ndarray,
                   K: np.ndarray, **kwargs) -> bool:
    """True when a frame (depth in metres, the instance's mask, K) shows the handle of the mug at (R, t, size)."""
    depth = np.asarray(depth, np.float32)
    valid = np.asarray(mask, bool) & np.isfinite(depth) & (depth > 0)
    return handle_seen_in_points(backproject_np(depth, K, valid), R, t, size, **kwargs)
