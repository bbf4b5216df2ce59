"""The points each view adds to a fusion track: the object's own depth points, back-projected from the back-end's
kept pixels (or selected here), thinned and within reach of the estimate; the back-end's support plane."""

from __future__ import annotations

import numpy as np

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.geometry.instance_surface import object_surface
from selfpose_ros.geometry.pinhole import backproject_np, backproject_pixels, valid_pixels
from selfpose_ros.geometry.support_plane import Plane
from selfpose_ros.pose_types import ObjectPoseEstimate


def object_points(frame: RGBDFrame, mask: np.ndarray, est: ObjectPoseEstimate, margin_px: int = 4,
                  max_points: int = 2000) -> np.ndarray:
    """The object's own depth points (N, 3) in the camera frame (``geometry.instance_surface``, the back-ends'
    selection: a bleeding mask's background and flying pixels dropped), at most ``max_points`` (evenly spaced),
    within reach of the estimate. The back-end's kept pixels (``surface_keep`` in its extras) inside the mask when
    it passed them, else selected here on the mask's box. Pixels a surface reached beyond its mask
    (``geometry.surface_reach``) stay out: each view's few, at the silhouette, add up in the fused cloud."""
    keep = est.extras.get("surface_keep")
    if keep is not None and np.shape(keep) == frame.depth.shape:
        pixels = valid_pixels(frame.depth, keep & mask)  # thinned before back-projection: the same points, cheaper
        return in_reach(backproject_pixels(frame.depth, frame.K, thin(pixels, max_points)), est)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return np.zeros((0, 3))
    r0, r1 = max(rows[0] - margin_px, 0), rows[-1] + margin_px + 1
    c0, c1 = max(cols[0] - margin_px, 0), cols[-1] + margin_px + 1
    K = np.array(frame.K, dtype=np.float64)
    K[0, 2] -= c0
    K[1, 2] -= r0
    depth = frame.depth[r0:r1, c0:c1]
    keep = object_surface(depth, K, mask[r0:r1, c0:c1], plane=camera_plane(est)).keep
    return in_reach(thin(backproject_np(depth, K, keep), max_points), est)


def thin(items: np.ndarray, max_items: int) -> np.ndarray:
    """At most ``max_items`` of items (evenly spaced, from the first)."""
    return items[:: max(1, -(-len(items) // max_items))]


def in_reach(pts: np.ndarray, est: ObjectPoseEstimate) -> np.ndarray:
    """The points (N, 3) within reach of the estimate's centre."""
    reach = 0.75 * float(np.linalg.norm(est.size)) + 0.02
    return pts[np.linalg.norm(pts - est.t, axis=1) <= reach]


def camera_plane(est: ObjectPoseEstimate) -> Plane | None:
    """The support plane the back-end found in this estimate's frame (camera frame), or None."""
    found = est.extras.get("support_plane")
    return None if found is None else Plane(np.asarray(found[0], np.float64), float(found[1]))
