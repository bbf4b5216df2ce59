"""Depth-only baseline back-end: fit each category's prior mesh to the instance's depth points (no learning)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.prior_fit import fit_prior_to_points
from selfpose_ros.inference.estimator import InstanceResult, SolverOptions, snap_if_upright
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.shapes.priors import load_prior

#: At most this many observed points per instance go into the fit (uniform subsample).
MAX_POINTS = 2000


def instance_points(frame: RGBDFrame, mask: np.ndarray, erode_px: int = 2, seed: int = 0) -> np.ndarray:
    """Return the instance's depth points (N, 3) in the camera frame, from the eroded mask (no edge pixels)."""
    if erode_px > 0:
        kernel = np.ones((2 * erode_px + 1, 2 * erode_px + 1), np.uint8)
        eroded = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
        if eroded.sum() >= 0.25 * mask.sum():  # thin objects: keep the mask rather than lose them
            mask = eroded
    points = backproject_np(frame.depth, frame.K, mask)
    if len(points) > MAX_POINTS:
        points = points[np.random.default_rng(seed).choice(len(points), MAX_POINTS, replace=False)]
    return points


class PriorFitEstimator:
    """Centroid/PCA initialisation + ICP with scale of the category prior against the observed points."""

    name = "prior_fit (depth-only baseline)"

    def __init__(self, categories: Sequence[str], options: SolverOptions) -> None:
        self.options = options
        self.priors: dict[str, np.ndarray] = {}
        for category in categories:
            vertices, _ = load_prior(category)
            self.priors[category] = vertices.astype(np.float64)
        self.extents = {c: v.max(axis=0) - v.min(axis=0) for c, v in self.priors.items()}

    def estimate(self, frame: RGBDFrame, instances: Sequence[Instance]) -> list[InstanceResult]:
        """Fit every instance of the frame independently."""
        return [self._one(frame, inst) for inst in instances]

    def _one(self, frame: RGBDFrame, inst: Instance) -> InstanceResult:
        points = instance_points(frame, inst.mask)
        if len(points) < self.options.min_inliers:
            reason = f"{len(points)} valid depth points < min_inliers {self.options.min_inliers}"
            return InstanceResult(inst, None, reason)
        fit = fit_prior_to_points(self.priors[inst.category], points, up_hint=frame.up,
                                  inlier_threshold=self.options.inlier_threshold,
                                  min_points=self.options.min_inliers)
        if not fit.success:
            return InstanceResult(inst, None, fit.failure_reason)
        if fit.num_inliers < self.options.min_inliers:
            return InstanceResult(inst, None, f"{fit.num_inliers} inliers < min_inliers {self.options.min_inliers}")
        est = ObjectPoseEstimate(
            category=inst.category, instance=inst.instance,
            R=snap_if_upright(fit.rotation, frame.up, self.options.upright_snap_deg), t=fit.translation,
            scale=fit.scale,
            size=fit.scale * self.extents[inst.category], confidence=fit.confidence,
            inlier_ratio=fit.inlier_ratio, num_correspondences=fit.num_correspondences,
        )
        return InstanceResult(inst, est)
