"""Depth-only baseline back-end: fit each category's prior mesh to the instance's depth points (no learning).

Per frame, ``inference.instance_geometry`` gives the up direction (TF, else the support plane) and each
instance's own surface (a bleeding mask's background, flying pixels and table points dropped). Per
instance: the prior is fitted by similarity ICP (scale held within the category's range), then stretched
per axis (radius and height for solids of revolution) against dense samples of the prior's surface,
snapped upright when up is known, and its size put through the category size policy
(``shapes.size_ranges``: kept, clamped with lowered confidence, or failed with ``size_out_of_range``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.conventions import HANDLE_CATEGORIES, SYMMETRY
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.axis_scales import surface_samples
from selfpose_ros.geometry.instance_surface import object_surface
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.prior_fit import fit_prior_to_points
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.inference.estimator import InstanceResult, SolverOptions, snap_if_upright
from selfpose_ros.inference.handle_yaw import handle_extras, turn_to_handle
from selfpose_ros.inference.instance_geometry import MEASURED_HEIGHT, FrameGeometry, frame_geometry, size_and_pose
from selfpose_ros.inference.upright_preference import prefer_upright
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.shapes.priors import load_prior
from selfpose_ros.shapes.size_ranges import check_size, similarity_scale_bounds

#: At most this many observed points per instance go into the fit (uniform subsample).
MAX_POINTS = 2000
#: Surface samples of each prior used for the per-axis size fit.
SIZE_SAMPLES = 2000


def instance_points(frame: RGBDFrame, mask: np.ndarray, seed: int = 0) -> np.ndarray:
    """The instance's own depth points (N <= MAX_POINTS, 3) in the camera frame (``geometry.instance_surface``)."""
    keep = object_surface(frame.depth, frame.K, mask).keep
    points = backproject_np(frame.depth, frame.K, keep)
    if len(points) > MAX_POINTS:
        points = points[np.random.default_rng(seed).choice(len(points), MAX_POINTS, replace=False)]
    return points


class PriorFitEstimator:
    """Robust surface -> similarity ICP of the category prior -> per-axis size -> size policy."""

    name = "prior_fit (depth-only baseline)"

    def __init__(self, categories: Sequence[str], options: SolverOptions) -> None:
        self.options = options
        self.priors: dict[str, np.ndarray] = {}
        self.samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # surface points and normals
        for category in categories:
            vertices, faces = load_prior(category)
            self.priors[category] = vertices.astype(np.float64)
            self.samples[category] = surface_samples(vertices, faces, SIZE_SAMPLES, seed=0)
        self.extents = {c: v.max(axis=0) - v.min(axis=0) for c, v in self.priors.items()}
        self.trees = {c: cKDTree(v) for c, v in self.priors.items()}  # the upright refit's nearest prior points

    def estimate(self, frame: RGBDFrame, instances: Sequence[Instance]) -> list[InstanceResult]:
        """Fit every instance of the frame (one support-plane search and surface selection per frame)."""
        geo = frame_geometry(frame, instances, use_support_plane=self.options.support_plane)
        return [self._one(frame, inst, geo, k) for k, inst in enumerate(instances)]

    def _one(self, frame: RGBDFrame, inst: Instance, geo: FrameGeometry, k: int) -> InstanceResult:
        points = geo.points(frame, k, MAX_POINTS)
        if len(points) < self.options.min_inliers:
            s = geo.surfaces[k]
            reason = (f"{len(points)} valid depth points on the object < min_inliers {self.options.min_inliers} "
                      f"({s.num_depth} in the mask: {s.dropped_edge} at edges, {s.dropped_support} on the support, "
                      f"{s.dropped_far} away from the object)")
            return InstanceResult(inst, None, reason)
        cat = inst.category
        fit = fit_prior_to_points(self.priors[cat], points, up_hint=geo.up,
                                  inlier_threshold=self.options.inlier_threshold, min_points=self.options.min_inliers,
                                  scale_bounds=similarity_scale_bounds(cat, self.extents[cat]))
        if not fit.success:
            return InstanceResult(inst, None, fit.failure_reason)
        if cat in MEASURED_HEIGHT and geo.up is not None and geo.support is not None \
                and tilt_deg(fit.rotation, geo.up) > self.options.upright_snap_deg:
            fit = prefer_upright(self.priors[cat], points, fit, geo.up, self.options.inlier_threshold,
                                 similarity_scale_bounds(cat, self.extents[cat]),
                                 revolution=SYMMETRY.get(cat) == "continuous_y", tree=self.trees[cat])
        if fit.num_inliers < self.options.min_inliers:
            return InstanceResult(inst, None, f"{fit.num_inliers} inliers < min_inliers {self.options.min_inliers}")
        samples, normals = self.samples[cat]
        sized = size_and_pose(cat, samples, points, fit.rotation, fit.translation, fit.scale, model_normals=normals,
                              frame=frame, free=geo.free_space(frame, k), plane=geo.support,
                              up=geo.up, upright_deg=self.options.upright_snap_deg,
                              max_distance=max(self.options.inlier_threshold, 0.01),
                              box_points=self.priors[cat], blocked=geo.blocked(frame, k), cut_off=geo.cut_off(k))
        handle = None
        if cat in HANDLE_CATEGORIES:
            sized, handle = turn_to_handle(cat, sized, geo.handle_points(frame, k), geo.up)
        check = check_size(cat, sized.size)
        if check.size is None:
            return InstanceResult(inst, None, check.failure)
        est = ObjectPoseEstimate(
            category=cat, instance=inst.instance,
            R=snap_if_upright(sized.rotation, geo.up, self.options.upright_snap_deg), t=sized.translation,
            scale=float(np.linalg.norm(check.size)), size=check.size,
            confidence=fit.confidence * check.confidence_factor,
            inlier_ratio=fit.inlier_ratio, num_correspondences=fit.num_correspondences,
            extras={**geo.extras(k), "size_factor": check.factor, "size_clamped": check.clamped,
                    "top_visible": sized.top_visible, **handle_extras(handle)},
        )
        return InstanceResult(inst, est)
