"""Oracle back-end: exact correspondences from ground truth, solved by the same RANSAC-Umeyama as a model.

For testing the pipeline around the model (sync, conversion, solver, publishing): each instance's depth
points are mapped into its canonical frame with the ground-truth pose, which gives perfect 3D-3D
correspondences up to sensor noise; RANSAC-Umeyama then recovers the pose from them. It needs ground
truth for the frame's stamp (the node feeds it from ``ground_truth/objects``) and never ships as a model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.ransac import ransac_umeyama
from selfpose_ros.inference.estimator import InstanceResult, SolverOptions
from selfpose_ros.inference.prior_fit_estimator import instance_points
from selfpose_ros.pose_types import ObjectPoseEstimate


class OracleEstimator:
    """Correspondences from ground-truth poses; the pose itself is still solved from them."""

    name = "oracle (ground-truth correspondences)"
    wants_ground_truth = True

    def __init__(self, categories: Sequence[str], options: SolverOptions, wait_s: float = 2.0,
                 keep: int = 64) -> None:
        self.options, self.wait_s, self.keep = options, wait_s, keep
        self._truth: OrderedDict[int, dict[tuple[str, int], ObjectPoseEstimate]] = OrderedDict()
        self._cond = threading.Condition()

    def add_ground_truth(self, stamp_ns: int, objects: Sequence[ObjectPoseEstimate]) -> None:
        """Store the ground truth of one stamp (thread-safe)."""
        with self._cond:
            self._truth[stamp_ns] = {(o.category, o.instance): o for o in objects}
            while len(self._truth) > self.keep:
                self._truth.popitem(last=False)
            self._cond.notify_all()

    def estimate(self, frame: RGBDFrame, instances: Sequence[Instance]) -> list[InstanceResult]:
        """Solve every instance from its oracle correspondences."""
        with self._cond:
            self._cond.wait_for(lambda: frame.stamp_ns in self._truth, self.wait_s)
            truth = self._truth.get(frame.stamp_ns)
        if truth is None:
            return [InstanceResult(i, None, "no ground truth for this stamp") for i in instances]
        return [self._one(frame, inst, truth.get((inst.category, inst.instance))) for inst in instances]

    def _one(self, frame: RGBDFrame, inst: Instance, gt: ObjectPoseEstimate | None) -> InstanceResult:
        if gt is None:
            return InstanceResult(inst, None, "instance has no ground truth")
        observed = instance_points(frame, inst.mask)
        canonical = (observed - gt.t) @ gt.R / gt.scale  # R^T (p - t) / s, row-wise
        fit = ransac_umeyama(canonical, observed, self.options.inlier_threshold,
                             max_iterations=self.options.ransac_iterations, min_inliers=self.options.min_inliers,
                             seed=0)
        if not fit.success:
            return InstanceResult(inst, None, fit.failure_reason)
        est = ObjectPoseEstimate(inst.category, inst.instance, fit.rotation, fit.translation, fit.scale,
                                 gt.size / gt.scale * fit.scale, confidence=fit.confidence,
                                 inlier_ratio=fit.inlier_ratio, num_correspondences=fit.num_correspondences)
        return InstanceResult(inst, est)
