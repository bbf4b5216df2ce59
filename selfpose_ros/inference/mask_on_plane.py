"""Objects that return no depth, stood on the support plane from their mask (both back-ends).

Clear bottles and glass bowls, and dark or shiny objects, leave a mask with no depth of its own: the camera
reads the table behind them, or nothing. Without this, both back-ends drop them (too few points for a fit; the
learned one's PnP guesses the distance from a typical size). When the frame's support plane and up direction
are known and the category stands on its base as a solid of revolution (STANDING_SOLIDS), the template is
instead stood on the plane where its silhouette covers the mask best (``geometry.standing_silhouette``): the
plane fixes the distance and the size. The estimate says so (``extras.method`` "mask_on_plane",
``extras.silhouette_iou``) and its confidence is scaled by CONFIDENCE_FACTOR. A mug's handle cannot be seen
this way: it is placed behind the body, and ``handle_visible`` is False.
"""

from __future__ import annotations

import numpy as np

from selfpose_ros.conventions import HANDLE_CATEGORIES, SYMMETRY
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.standing_silhouette import fit_standing_silhouette
from selfpose_ros.inference.estimator import InstanceResult
from selfpose_ros.inference.instance_geometry import FrameGeometry, border_band
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.shapes.size_ranges import check_size

#: Categories that stand on their base as solids of revolution (a mug's handle aside): their pose on the plane is
#: their height and radius and where they stand.
STANDING_SOLIDS = ("bottle", "bowl", "can", "mug")
#: A fit whose silhouette covers the mask with a lower IoU is no estimate.
MIN_IOU = 0.6
#: The estimate's confidence is its silhouette IoU times this (no depth confirmed it).
CONFIDENCE_FACTOR = 0.5
#: The masks' pixels fewer than this: no fit (as small_mask, but for what the fallback needs).
MIN_MASK_PIXELS = 30


def lacks_depth(frame: RGBDFrame, geo: FrameGeometry, k: int, min_points: int) -> bool:
    """True when instance ``k`` has fewer than ``min_points`` depth points of its own surface."""
    return len(geo.points(frame, k, max_points=min_points)) < min_points


def mask_on_plane(inst: Instance, vertices: np.ndarray, frame: RGBDFrame, geo: FrameGeometry, k: int,
                  why: str) -> InstanceResult | None:
    """Instance ``k`` (``inst``) stood on the support plane from its mask with the template ``vertices`` (M, 3,
    canonical): its result, or None when the category or the frame does not allow it (no plane or up known).

    ``why``: why the depth did not do (the failure reported with the fallback's own, when it fails too).
    """
    if inst.category not in STANDING_SOLIDS or geo.support is None or geo.up is None or geo.masks is None:
        return None
    mask = geo.masks[k]
    if int(mask.sum()) < MIN_MASK_PIXELS:
        return InstanceResult(inst, None, f"{why}; mask_on_plane: mask has {int(mask.sum())} pixels")
    ignore = border_band(mask.shape)
    if len(geo.masks) > 1:
        ignore |= np.delete(geo.masks, k, axis=0).any(0)
    plane = geo.support
    fit = fit_standing_silhouette(mask, frame.K, plane.normal, plane.offset, vertices, ignore=ignore & ~mask)
    if isinstance(fit, str):
        return InstanceResult(inst, None, f"{why}; mask_on_plane: {fit}")
    if fit.iou < MIN_IOU:
        return InstanceResult(inst, None, f"{why}; mask_on_plane: silhouette IoU {fit.iou:.2f} < {MIN_IOU}")
    size = fit.size.copy()
    if SYMMETRY.get(inst.category) == "continuous_y":  # the silhouette's width is the lateral (z) extent
        size[0] = size[2]
    check = check_size(inst.category, size)
    if check.size is None:
        return InstanceResult(inst, None, f"{why}; mask_on_plane: {check.failure}")
    extras = {**geo.extras(k), "method": "mask_on_plane", "silhouette_iou": fit.iou, "size_factor": check.factor,
              "size_clamped": check.clamped, "top_visible": None, "fitness": None, "pose_source": "mask_on_plane"}
    if inst.category in HANDLE_CATEGORIES:
        extras["handle_visible"] = False
    est = ObjectPoseEstimate(category=inst.category, instance=inst.instance, R=fit.rotation, t=fit.translation,
                             scale=float(np.linalg.norm(check.size)), size=check.size,
                             confidence=fit.iou * CONFIDENCE_FACTOR * check.confidence_factor,
                             inlier_ratio=fit.iou, num_correspondences=0, extras=extras)
    return InstanceResult(inst, est)
