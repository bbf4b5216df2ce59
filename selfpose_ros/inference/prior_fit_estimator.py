"""Depth-only baseline back-end: fit each category's prior mesh to the instance's depth points (no learning).

Per frame, ``inference.instance_geometry`` gives the up direction (TF, else the support plane) and each
instance's own surface (a bleeding mask's background, flying pixels and table points dropped). Per
instance: the prior is fitted by similarity ICP (scale held within the category's range), then stretched
per axis (radius and height for solids of revolution) against dense samples of the prior's surface,
snapped upright when up is known, and its size put through the category size policy
(``shapes.size_ranges``: kept, clamped with lowered confidence, or failed with ``size_out_of_range``). An
instance with no depth of its own is stood on the support plane from its mask (``inference.mask_on_plane``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.instance_surface import object_surface
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.inference.estimator import InstanceResult, SolverOptions, snap_if_upright
from selfpose_ros.inference.handle_yaw import handle_extras
from selfpose_ros.inference.instance_geometry import FrameGeometry, frame_geometry
from selfpose_ros.inference.mask_on_plane import lacks_depth, mask_on_plane
from selfpose_ros.inference.template_fit import MAX_POINTS, TemplateFitter, template_fitter
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.shapes.size_ranges import check_size


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
        self.fitters = {c: template_fitter(c, options) for c in categories}

    def estimate(self, frame: RGBDFrame, instances: Sequence[Instance]) -> list[InstanceResult]:
        """Fit every instance of the frame (one support-plane search and surface selection per frame)."""
        geo = frame_geometry(frame, instances, use_support_plane=self.options.support_plane,
                             reach=self.options.reach())
        return [template_estimate(self.fitters[inst.category], frame, inst, geo, k, self.options)
                for k, inst in enumerate(instances)]


def template_estimate(fitter: TemplateFitter, frame: RGBDFrame, inst: Instance, geo: FrameGeometry, k: int,
                      options: SolverOptions) -> InstanceResult:
    """Instance ``k``'s depth-only estimate: ``fitter``'s fit of its category's prior to the instance's own depth,
    sized, turned to its handle and put through the size policy; stood on the support plane from its mask when it
    has too little depth (``mask_on_plane``). The baseline's estimate, and the learned back-end's when its
    correspondences give none."""
    cat = inst.category
    done = fitter.fit(frame, geo, k)
    if isinstance(done, str):
        stood = mask_on_plane(inst, fitter.shapes[0].vertices, frame, geo, k, done) \
            if lacks_depth(frame, geo, k, options.min_inliers) else None
        return stood or InstanceResult(inst, None, done)
    sized, fit = done.sized, done.fit
    check = check_size(cat, sized.size)
    if check.size is None:
        return InstanceResult(inst, None, check.failure)
    est = ObjectPoseEstimate(
        category=cat, instance=inst.instance,
        R=snap_if_upright(sized.rotation, geo.up, options.upright_snap_deg), t=sized.translation,
        scale=float(np.linalg.norm(check.size)), size=check.size,
        confidence=fit.confidence * check.confidence_factor,
        inlier_ratio=fit.inlier_ratio, num_correspondences=fit.num_correspondences,
        extras={**geo.extras(k), "size_factor": check.factor, "size_clamped": check.clamped,
                "top_visible": sized.top_visible, "fitness": sized.fit.fitness, **handle_extras(done.handle)},
    )
    return InstanceResult(inst, est)
