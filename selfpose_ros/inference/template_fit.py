"""One category template (a mesh) fitted to an instance's own depth: the depth-only baseline's whole fit.

Similarity ICP from 12 yaws about up (scale held within the category's range), an upright refit of a tilted
fit for the categories whose height is measured, then the per-axis size and pose (``size_and_pose``) and,
for mugs, the turn to the handle found in the depth. ``PriorFitEstimator`` is this fit with each category's
prior; the learned back-end runs it with the same shipped prior, started from its own pose too, to check the
yaw of the camera and the laptop (``inference.cse_estimator.TEMPLATE_CHECKED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.conventions import HANDLE_CATEGORIES, SYMMETRY
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.geometry.axis_scales import surface_samples
from selfpose_ros.geometry.handle_azimuth import Protrusion
from selfpose_ros.geometry.pose_fit import PoseFit
from selfpose_ros.geometry.prior_fit import fit_prior_to_points
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.inference.estimator import SolverOptions
from selfpose_ros.inference.handle_yaw import turn_to_handle
from selfpose_ros.inference.instance_geometry import MEASURED_HEIGHT, FrameGeometry, SizedPose, size_and_pose
from selfpose_ros.inference.upright_preference import prefer_upright
from selfpose_ros.shapes.size_ranges import similarity_scale_bounds

#: At most this many observed points per instance go into the fit (uniform subsample).
MAX_POINTS = 2000
#: Surface samples of the template used for the per-axis size fit.
SIZE_SAMPLES = 2000


@dataclass(frozen=True)
class TemplateFit:
    """A fitted template: its sized pose (box centre, per-axis size), the similarity fit and the handle search."""

    sized: SizedPose
    fit: PoseFit
    handle: Protrusion | None


class TemplateFitter:
    """Fits one category's template mesh (vertices (M,3) canonical, faces (F,3)) to instances' depth."""

    def __init__(self, category: str, vertices: np.ndarray, faces: np.ndarray, options: SolverOptions) -> None:
        self.category, self.options = category, options
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.samples = surface_samples(vertices, faces, SIZE_SAMPLES, seed=0)  # points, normals
        self.extents = self.vertices.max(axis=0) - self.vertices.min(axis=0)
        self.tree = cKDTree(self.vertices)  # the upright refit's nearest template points

    def fit(self, frame: RGBDFrame, geo: FrameGeometry, k: int, starts: Sequence[PoseFit] = ()) -> TemplateFit | str:
        """Fit the template to instance ``k`` of ``geo`` (``starts``: further initial poses beside the 12 yaws);
        the fit, or why there is none."""
        opts, cat = self.options, self.category
        points = geo.points(frame, k, MAX_POINTS)
        if len(points) < opts.min_inliers:
            s = geo.surfaces[k]
            return (f"{len(points)} valid depth points on the object < min_inliers {opts.min_inliers} "
                    f"({s.num_depth} in the mask: {s.dropped_edge} at edges, {s.dropped_support} on the support, "
                    f"{s.dropped_far} away from the object)")
        bounds = similarity_scale_bounds(cat, self.extents)
        fit = fit_prior_to_points(self.vertices, points, up_hint=geo.up, inlier_threshold=opts.inlier_threshold,
                                  min_points=opts.min_inliers, scale_bounds=bounds, starts=starts)
        if not fit.success:
            return fit.failure_reason
        if cat in MEASURED_HEIGHT and geo.up is not None and geo.support is not None \
                and tilt_deg(fit.rotation, geo.up) > opts.upright_snap_deg:
            fit = prefer_upright(self.vertices, points, fit, geo.up, opts.inlier_threshold, bounds,
                                 revolution=SYMMETRY.get(cat) == "continuous_y", tree=self.tree)
        if fit.num_inliers < opts.min_inliers:
            return f"{fit.num_inliers} inliers < min_inliers {opts.min_inliers}"
        samples, normals = self.samples
        sized = size_and_pose(cat, samples, points, fit.rotation, fit.translation, fit.scale, model_normals=normals,
                              frame=frame, free=geo.free_space(frame, k), plane=geo.support,
                              up=geo.up, upright_deg=opts.upright_snap_deg,
                              max_distance=max(opts.inlier_threshold, 0.01),
                              box_points=self.vertices, blocked=geo.blocked(frame, k), cut_off=geo.cut_off(k))
        handle = None
        if cat in HANDLE_CATEGORIES:
            sized, handle = turn_to_handle(cat, sized, geo.handle_points(frame, k), geo.up)
        return TemplateFit(sized, fit, handle)
