"""One category template (a mesh) fitted to an instance's own depth: the depth-only baseline's whole fit.

Similarity ICP from 12 yaws about up (scale held within the category's range), an upright refit of a tilted
fit for the categories whose height is measured, then the per-axis size and pose (``size_and_pose``) and,
for mugs, the turn to the handle found in the depth. The categories that stand on their base
(``UPRIGHT_SEARCHED``: camera, laptop) are instead searched held upright when up and the support plane are
known, and ranked by their distance to the points plus the share of their surface the camera sees through
(``geometry.free_space``); there, SHAPE_TEMPLATES instances of the camera's shape library and the laptop's
prior with its lid at other angles (ARTICULATED_TEMPLATES) compete with the prior. ``PriorFitEstimator`` is
this fit for every category; the learned back-end runs it, started from its own pose too, for the camera and
the laptop (``inference.cse_estimator.TEMPLATE_FITTED``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.conventions import HANDLE_CATEGORIES, SYMMETRY
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.geometry.axis_scales import surface_samples
from selfpose_ros.geometry.free_space import seen_through_share
from selfpose_ros.geometry.fused_fit import Similarity, coarse_fine_distances, placed_prior_distances
from selfpose_ros.geometry.handle_azimuth import Protrusion
from selfpose_ros.geometry.mesh_box import mesh_box
from selfpose_ros.geometry.pose_fit import PoseFit, failed_fit
from selfpose_ros.geometry.prior_fit import candidate_rotations, fit_prior_to_points, initial_scale
from selfpose_ros.geometry.rotations import relative_rotation_angle_np
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.geometry.upright_icp import fit_upright
from selfpose_ros.inference.estimator import SolverOptions
from selfpose_ros.inference.handle_yaw import turn_to_handle
from selfpose_ros.inference.instance_geometry import MEASURED_HEIGHT, FrameGeometry, SizedPose, size_and_pose
from selfpose_ros.inference.upright_preference import prefer_upright
from selfpose_ros.shapes.priors import load_prior
from selfpose_ros.shapes.size_ranges import similarity_scale_bounds
from selfpose_ros.shapes.templates import articulated_templates, shape_template_meshes

#: At most this many observed points per instance go into the fit (uniform subsample).
MAX_POINTS = 2000
#: Categories that stand on their base (no solid of revolution, no handle): with up and a support plane known,
#: their template is searched held upright (a laptop seen from behind, only its lid's back in view, is otherwise
#: fitted tilted and turned by 180 degrees, the lid's slope taken for the screen's).
UPRIGHT_SEARCHED = ("camera", "laptop")
#: Yaws about up the upright search starts from, and how many of its coarse results take the fine steps.
UPRIGHT_YAWS, UPRIGHT_FINE_BEST = 12, 3
#: Instances of the category's shape library (``shapes.templates``) that compete with its prior in the upright
#: search, per category (none for the others).
SHAPE_TEMPLATES: dict[str, int] = {"camera": 4}
#: The prior's own shape with one joint set to other values, competing likewise: the laptop's lid angle (the prior's
#: is 115 degrees; instances open from 90 to 145).
ARTICULATED_TEMPLATES: dict[str, tuple[str, list[float]]] = {"laptop": ("lid_angle_deg", [95.0, 135.0])}
#: Per category: the upright search's best result at each of its first this many yaws is stretched per axis
#: (``size_and_pose``) and ranked again as stretched: no template has every instance's proportions, and a long-lens
#: camera fitted with a short-lens template explained its points best turned by 90 degrees, its lens axis squashed.
STRETCH_RANKED: dict[str, int] = {"camera": 4}
#: Yaws the similarity fit of a solid of revolution starts from when it is also given starts (the learned
#: back-end's pose): any yaw fits it alike, and 1 instead of 12 measured the same on three held-out sets for the
#: bottle, bowl and can (stop 28) at half the added cost (one object at 640x480: 210-246 -> 156-191 ms per frame,
#: against 113-126 for the network's pose alone).
REVOLUTION_YAWS = 1
#: Two results closer in yaw than this (degrees) count as one yaw, whatever their shapes.
SAME_YAW_DEG = 20.0
#: Surface samples of the template used for the per-axis size fit and the see-through ranking.
SIZE_SAMPLES = 2000
#: A template point is seen through when the depth at its pixel lies this far behind it (metres).
SEE_THROUGH_MARGIN_M = 0.02


@dataclass(frozen=True)
class TemplateFit:
    """A fitted template: its sized pose (box centre, per-axis size), the similarity fit, the handle search and
    which of the fitter's shapes won (0: the prior)."""

    sized: SizedPose
    fit: PoseFit
    handle: Protrusion | None
    shape: int = 0


@dataclass(frozen=True)
class _Shape:
    """One template mesh ready for fitting: vertices (M, 3) canonical, surface samples and normals, its box's
    extents, a KD-tree of its vertices and its similarity-scale bounds."""

    vertices: np.ndarray
    samples: np.ndarray
    normals: np.ndarray
    extents: np.ndarray
    tree: cKDTree
    bounds: tuple[float, float]

    @classmethod
    def of(cls, category: str, vertices: np.ndarray, faces: np.ndarray) -> _Shape:
        """The shape of a mesh (vertices (M, 3), faces (F, 3)) of ``category``."""
        v = np.asarray(vertices, dtype=np.float64)
        samples, normals = surface_samples(v, faces, SIZE_SAMPLES, seed=0)
        extents = v.max(axis=0) - v.min(axis=0)
        return cls(v, samples, normals, extents, cKDTree(v), similarity_scale_bounds(category, extents))


class TemplateFitter:
    """Fits one category's template mesh (vertices (M,3) canonical, faces (F,3)) to instances' depth; for
    UPRIGHT_SEARCHED categories, further ``shapes`` ((vertices, faces) of other instances of the category, the
    same canonical frame) compete in the upright search."""

    def __init__(self, category: str, vertices: np.ndarray, faces: np.ndarray, options: SolverOptions,
                 shapes: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> None:
        self.category, self.options = category, options
        self.shapes = [_Shape.of(category, vertices, faces)] + [_Shape.of(category, v, f) for v, f in shapes]

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
        free = geo.free_space(frame, k)
        shape = self.shapes[0]
        sized = None
        if cat in UPRIGHT_SEARCHED and geo.up is not None and geo.support is not None:
            fit, shape, sized = self._upright_search(points, geo.up, starts, frame, free, geo, k)
        else:
            yaws = {"num_yaw": REVOLUTION_YAWS} if SYMMETRY.get(cat) == "continuous_y" and starts else {}
            fit = fit_prior_to_points(shape.vertices, points, up_hint=geo.up, inlier_threshold=opts.inlier_threshold,
                                      min_points=opts.min_inliers, scale_bounds=shape.bounds, starts=starts, **yaws)
            if fit.success and cat in MEASURED_HEIGHT and geo.up is not None and geo.support is not None \
                    and tilt_deg(fit.rotation, geo.up) > opts.upright_snap_deg:
                fit = prefer_upright(shape.vertices, points, fit, geo.up, opts.inlier_threshold, shape.bounds,
                                     revolution=SYMMETRY.get(cat) == "continuous_y", tree=shape.tree)
        if not fit.success:
            return fit.failure_reason
        if fit.num_inliers < opts.min_inliers:
            return f"{fit.num_inliers} inliers < min_inliers {opts.min_inliers}"
        if sized is None:
            sized = self._sized(shape, points, fit, frame, free, geo, k)
        handle = None
        if cat in HANDLE_CATEGORIES:
            sized, handle = turn_to_handle(cat, sized, geo.handle_points(frame, k), geo.up)
        return TemplateFit(sized, fit, handle, next(i for i, sh in enumerate(self.shapes) if sh is shape))

    def _sized(self, shape: _Shape, points: np.ndarray, fit: PoseFit | Similarity, frame: RGBDFrame,
               free: np.ndarray, geo: FrameGeometry, k: int) -> SizedPose:
        """The per-axis size and pose (``size_and_pose``) of ``shape`` placed by ``fit`` on instance ``k``."""
        s, R, t = (fit.scale, fit.rotation, fit.translation) if isinstance(fit, PoseFit) else fit
        opts = self.options
        return size_and_pose(self.category, shape.samples, points, R, t, s, model_normals=shape.normals,
                             frame=frame, free=free, plane=geo.support, up=geo.up,
                             upright_deg=opts.upright_snap_deg, max_distance=max(opts.inlier_threshold, 0.01),
                             box_points=shape.vertices, blocked=geo.blocked(frame, k), cut_off=geo.cut_off(k))

    def _upright_search(self, points: np.ndarray, up: np.ndarray, starts: Sequence[PoseFit], frame: RGBDFrame,
                        free: np.ndarray, geo: FrameGeometry, k: int) -> tuple[PoseFit, _Shape, SizedPose | None]:
        """Every shape held upright (canonical +Y along ``up``), searched from UPRIGHT_YAWS yaws about the points'
        centroid and from ``starts``; the best (its mean truncated distance to the points (K, 3) plus the share of
        its camera-facing surface seen through ``free`` pixels, SEE_THROUGH_MARGIN_M, at the truncation distance)
        and its shape, and for STRETCH_RANKED categories its sized pose (else None). A failed fit when no result's
        scale lies within its shape's bounds."""
        thr = self.options.inlier_threshold
        truncate = 3.0 * thr
        found = []
        stretched = STRETCH_RANKED.get(self.category, 0) > 1
        for shape in self.shapes:
            def seen_through(sim: Similarity, shape: _Shape = shape) -> float:
                return seen_through_share(shape.samples, shape.normals, *sim, frame.depth, frame.K, free,
                                          SEE_THROUGH_MARGIN_M)

            s0 = initial_scale(shape.vertices, points, shape.bounds)
            if not s0 > 0:
                continue
            centre = shape.vertices.mean(0)
            seeds = [(s0, R, points.mean(0) - s0 * R @ centre)
                     for R in candidate_rotations(shape.vertices, points, up, UPRIGHT_YAWS)]
            seeds += [(float(np.clip(f.scale, *shape.bounds)), f.rotation, f.translation) for f in starts]
            coarse, fine = coarse_fine_distances(shape.vertices, s0, thr)
            for cost, sim in fit_upright(shape.vertices, points, seeds, up, coarse, fine, truncate, tree=shape.tree,
                                         fine_best=UPRIGHT_FINE_BEST, model_outliers=seen_through):
                if shape.bounds[0] <= sim[0] <= shape.bounds[1]:
                    found.append((cost + truncate * seen_through(sim), cost, sim, shape))
                    if not stretched:
                        break  # only the best of this shape within its bounds competes
        if not found:
            return failed_fit("no upright fit with a scale within the category's bounds", len(points),
                              len(points)), self.shapes[0], None
        found.sort(key=lambda item: item[0])
        best, sized = found[0], None
        if stretched:
            best, sized = self._stretch_ranked(found, points, frame, free, geo, k, truncate)
        _, cost, (s, R, t), shape = best
        mask = placed_prior_distances(shape.vertices, (s, R, t), points, shape.tree) < thr
        ratio = float(mask.mean())
        return PoseFit(True, float(s), R, t, mask, ratio, ratio, len(points),
                       extras={"mean_truncated_distance_m": cost, "held_upright": True}), shape, sized

    def _stretch_ranked(self, found: list, points: np.ndarray, frame: RGBDFrame, free: np.ndarray,
                        geo: FrameGeometry, k: int, truncate: float) -> tuple[tuple, SizedPose]:
        """Of the upright search's results ``found`` (ranked, cost, similarity, shape; best first), the best of each
        of the first STRETCH_RANKED yaws (SAME_YAW_DEG apart) stretched per axis, ranked again as stretched
        (:func:`_stretched_cost`); the winner and its sized pose."""
        tried: list[tuple] = []
        for item in found:
            if len(tried) == STRETCH_RANKED[self.category]:
                break
            if not any(np.degrees(relative_rotation_angle_np(item[2][1], other[2][1])) < SAME_YAW_DEG
                       for other in tried):  # both held upright: their relative rotation is their turn about up
                tried.append(item)
        scored = []
        for item in tried:
            sized = self._sized(item[3], points, item[2], frame, free, geo, k)
            scored.append((_stretched_cost(item[3], sized, self.category, points, frame, free, truncate), item, sized))
        _, best, sized = min(scored, key=lambda x: x[0])
        return best, sized


def _stretched_cost(shape: _Shape, sized: SizedPose, category: str, points: np.ndarray, frame: RGBDFrame,
                    free: np.ndarray, truncate: float) -> float:
    """Mean truncated distance of the points (K, 3) to ``shape``'s surface samples stretched and placed by
    ``sized``, plus ``truncate`` times the share of its camera-facing samples the camera sees through."""
    centre, extents = mesh_box(shape.vertices, SYMMETRY.get(category, "none"))
    scales = np.asarray(sized.size, np.float64) / np.maximum(extents, 1e-9)
    local = (shape.samples - centre) * scales
    normals = shape.normals / scales
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    R, t = np.asarray(sized.rotation, np.float64), np.asarray(sized.translation, np.float64)
    dist, _ = cKDTree(local).query((points - t) @ R, distance_upper_bound=truncate)
    through = seen_through_share(local, normals, 1.0, R, t, frame.depth, frame.K, free, SEE_THROUGH_MARGIN_M)
    return float(np.minimum(dist, truncate).mean()) + truncate * through


def template_fitter(category: str, options: SolverOptions) -> TemplateFitter:
    """The fitter of ``category``'s shipped prior (``models/priors``), its SHAPE_TEMPLATES shape templates and its
    ARTICULATED_TEMPLATES."""
    shapes = shape_template_meshes(category, SHAPE_TEMPLATES.get(category, 0))
    if category in ARTICULATED_TEMPLATES:
        shapes += articulated_templates(category, *ARTICULATED_TEMPLATES[category])
    return TemplateFitter(category, *load_prior(category), options, shapes)
