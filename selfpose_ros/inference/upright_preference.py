"""A standing object fitted tilted is refitted upright, and the upright fit kept when it explains the points nearly
as well. Both back-ends run it when up is known and a support plane was found: ``prior_fit`` for the categories
whose height is measured (bottle, bowl, can, mug; its own fit already searches yaw about up), the learned back-end
for every category (its correspondences can carry the wrong up axis: a laptop's lid taken for its base).

A tilted fit of a standing bowl, bottle, can or mug is mostly a smaller shape nested in a part of it (e.g. inside
a bowl), or a mesh whose correspondences carried the wrong up axis; one that really lies on its side keeps its
fit. The upright refit is ``geometry.upright_icp.fit_upright`` from the tilted fit (snapped upright, turned about
up when the shape is not a solid of revolution); it wins when its mean truncated distance (3 inlier thresholds) is
at most UPRIGHT_COST_RATIO times the tilted fit's and at most UPRIGHT_MAX_COST inlier thresholds, with its scale
within the category's bounds.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.geometry.fused_fit import coarse_fine_distances, placed_prior_distances
from selfpose_ros.geometry.pose_fit import PoseFit
from selfpose_ros.geometry.upright_icp import fit_upright

#: The upright fit is kept when its mean truncated distance is at most this many times the tilted one's ...
UPRIGHT_COST_RATIO = 1.25
#: ... and at most this many inlier thresholds (a tilted fit that is poor anyway does not become a poor upright one).
UPRIGHT_MAX_COST = 0.75


def truncated_cost(shape: np.ndarray, fit: PoseFit, points: np.ndarray, threshold: float,
                   tree: cKDTree | None = None) -> float:
    """Mean distance (metres) of the points (N, 3) to the nearest shape point placed by ``fit``, each at most
    three inlier thresholds."""
    dist = placed_prior_distances(shape, (fit.scale, fit.rotation, fit.translation), points, tree)
    return float(np.minimum(dist, 3.0 * threshold).mean())


def prefer_upright(shape: np.ndarray, points: np.ndarray, fit: PoseFit, up: np.ndarray, threshold: float,
                   scale_bounds: tuple[float, float], *, revolution: bool, tree: cKDTree | None = None,
                   max_points: int | None = None) -> PoseFit:
    """``fit`` (canonical -> camera, of ``shape`` (M, 3) canonical points to ``points`` (N, 3)), or its upright
    refit when that explains the points nearly as well (module docstring). The tilted fit's cost is its extras'
    ``mean_truncated_distance_m`` when there, else measured. ``max_points``: the refit and both costs use an even
    subsample of at most this many points (the returned inlier mask covers them all)."""
    tree = tree if tree is not None else cKDTree(shape)
    every = points
    if max_points is not None and len(points) > max_points:
        points = points[:: -(-len(points) // max_points)]
    coarse, fine = coarse_fine_distances(shape, fit.scale, threshold)
    found = fit_upright(shape, points, [(fit.scale, fit.rotation, fit.translation)], up, coarse, fine,
                        3.0 * threshold, num_yaw=0 if revolution else 12, tree=tree, revolution=revolution)
    if not found:
        return fit
    cost, (s, R, t) = found[0]
    tilted = fit.extras.get("mean_truncated_distance_m")
    tilted = truncated_cost(shape, fit, points, threshold, tree) if tilted is None else float(tilted)
    lo, hi = scale_bounds
    if not lo <= s <= hi or cost > min(UPRIGHT_COST_RATIO * tilted, UPRIGHT_MAX_COST * threshold):
        return fit
    mask = placed_prior_distances(shape, (s, R, t), every, tree) < threshold
    ratio = float(mask.mean())
    return PoseFit(True, float(s), R, t, mask, ratio, ratio, len(every),
                   extras={**fit.extras, "mean_truncated_distance_m": cost, "held_upright": True})
