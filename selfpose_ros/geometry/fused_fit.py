"""The fit of a category prior to a multi-view fused cloud: one implementation for training and run time.

The trainer's trajectory pseudo-labels (``train/pseudo_labels.py``) fit each static object's cloud fused
over a whole recorded trajectory; pose_estimator's world-frame tracks (``inference/fusion.py``) fit the
cloud fused so far, seeded by the track's current estimate. Both call :func:`fit_prior_to_fused_cloud`.

The fit: the cloud is subsampled to ``max_points`` (uniformly, with the caller's generator), then

- ``search`` (the default): the global search of ``geometry.prior_fit.fit_prior_to_points`` (``num_yaw``
  rotations about ``up`` or, without it, the 24 PCA-axis candidates; ICP with scale from each, the
  ``keep_best`` best refined on all points);
- ``seeds`` (similarities ``(scale, R, t)``, e.g. a track's pose and the latest single-view estimate): ICP
  with scale from each, coarse then fine;
- with ``up`` known and ``upright_snap_deg`` > 0, seeds within that tilt of upright are refined with the
  rotation held upright (``geometry.upright_icp``: yaw, scale and translation only), and the search turns the
  first seed about ``up`` (``num_yaw`` turns) instead of searching from scratch.

Of all results, the one whose observed points lie closer to the placed prior (mean distance truncated at
three inlier thresholds; with ``views``, plus that of the prior's camera-facing surface to the cloud) wins,
so a seed never makes the fit worse than the search alone, and the search never loses a seed that is
already right. Without seeds or upright refinement the result is exactly the search's
(the pseudo-labels).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.geometry.icp import RefinementBounds, refine_pose_icp
from selfpose_ros.geometry.pose_fit import PoseFit, failed_fit
from selfpose_ros.geometry.prior_fit import fit_prior_to_points
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.geometry.upright_icp import fit_upright

_UNBOUNDED = RefinementBounds(np.inf, np.inf, np.inf)

#: A similarity canonical -> cloud frame: (scale, R (3, 3), t (3,)).
Similarity = tuple[float, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class FusedFitOptions:
    """How the fused cloud is fitted (the pseudo-labels' defaults)."""

    inlier_threshold: float = 0.006  #: metres: a point closer than this to the placed prior is an inlier
    max_points: int = 3000  #: the cloud is subsampled to this many points first
    num_yaw: int = 36  #: rotations about ``up`` tried by the search
    keep_best: int = 8  #: search candidates refined on all points
    min_points: int = 30  #: fewer points: the fit fails
    icp_iterations: int = 40
    #: with ``up`` known, fits within this tilt of upright are refined upright (yaw only); 0: off (pseudo-labels)
    upright_snap_deg: float = 0.0

    def __post_init__(self) -> None:
        if not self.inlier_threshold > 0:
            raise ValueError(f"inlier_threshold must be > 0 metres, got {self.inlier_threshold}")
        if min(self.max_points, self.num_yaw, self.keep_best, self.min_points, self.icp_iterations) < 1:
            raise ValueError("max_points, num_yaw, keep_best, min_points and icp_iterations must be >= 1")
        if not 0.0 <= self.upright_snap_deg <= 90.0:
            raise ValueError(f"upright_snap_deg must be in [0, 90], got {self.upright_snap_deg}")


def placed_prior_distances(prior: np.ndarray, fit: Similarity, points: np.ndarray,
                           tree: cKDTree | None = None) -> np.ndarray:
    """Distance (N,) of each point (N, 3) to the nearest vertex of the prior placed by ``fit``.

    The points are taken into canonical coordinates, so one ``tree`` of the prior serves every placement."""
    scale, R, t = fit
    tree = tree if tree is not None else cKDTree(np.asarray(prior, dtype=np.float64))
    dist, _ = tree.query((np.asarray(points, dtype=np.float64) - t) @ R / scale)
    return dist * scale


def coarse_fine_distances(prior: np.ndarray, scale: float, threshold: float) -> tuple[float, float]:
    """ICP correspondence distances: a quarter of the placed prior's diagonal, then a sixteenth (>= threshold)."""
    diag = float(scale) * float(np.linalg.norm(np.ptp(prior, axis=0)))
    return 0.25 * diag, max(threshold, 0.0625 * diag)


def _seeded(prior: np.ndarray, points: np.ndarray, seed: Similarity, options: FusedFitOptions) -> PoseFit:
    """Free ICP with scale from the seed, coarse then fine."""
    scale, R, t = seed
    n = len(points)
    fit = PoseFit(True, float(scale), np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64),
                  np.ones(n, dtype=bool), 1.0, 1.0, n)
    for distance in coarse_fine_distances(prior, scale, options.inlier_threshold):
        fit = refine_pose_icp(fit, prior, points, max_correspondence_distance=distance, refine_scale=True,
                              max_iterations=options.icp_iterations, bounds=_UNBOUNDED).fit
    return fit


@dataclass(frozen=True)
class ViewCoverage:
    """Where the cloud was seen from: unit directions object -> camera (K, 3) in the cloud's frame, and the
    prior's outward unit vertex normals (M, 3). With it a fit is also scored by how far the prior's
    surface that faces a camera lies from the cloud: an oversized or wrongly turned prior puts surface
    where the cameras saw nothing."""

    directions: np.ndarray
    prior_normals: np.ndarray
    min_cosine: float = 0.3  #: a vertex faces a camera when its normal is within ~73 deg of the direction
    #: canonical +X of recent single-view estimates (K, 3) in the cloud's frame: a candidate turned away from
    #: most of them pays up to ``vote_weight`` x three inlier thresholds (breaks near-ties such as front/back)
    votes: np.ndarray | None = None
    vote_weight: float = 0.25
    vote_deg: float = 30.0


def _visible_surface_cost(prior: np.ndarray, fit: Similarity, views: ViewCoverage, cloud: cKDTree,
                          truncate: float) -> float:
    """Mean truncated distance (metres) from the placed prior's camera-facing vertices to the cloud."""
    scale, R, t = fit
    facing = ((views.prior_normals @ R.T) @ np.asarray(views.directions).T > views.min_cosine).any(axis=1)
    if not facing.any():
        return 0.0
    dist, _ = cloud.query(scale * prior[facing] @ R.T + t, distance_upper_bound=truncate)
    return float(np.minimum(dist, truncate).mean())


def _finish(prior: np.ndarray, points: np.ndarray, fit: PoseFit, threshold: float, source: str,
            views: ViewCoverage | None = None, cloud: cKDTree | None = None, tree: cKDTree | None = None
            ) -> tuple[float, PoseFit]:
    """(cost, the fit with its inliers and confidence over ``points``): the mean truncated distance of the
    points to the placed prior, plus, with ``views``, that of the prior's camera-facing surface to the points."""
    sim = (fit.scale, fit.rotation, fit.translation)
    dist = placed_prior_distances(prior, sim, points, tree)
    mask = dist < threshold
    ratio = float(mask.mean())
    cost = float(np.minimum(dist, 3.0 * threshold).mean())
    extras = {"mean_truncated_distance_m": cost, "source": source}
    if views is not None and cloud is not None:
        extras["visible_surface_distance_m"] = _visible_surface_cost(prior, sim, views, cloud, 3.0 * threshold)
        cost += extras["visible_surface_distance_m"]
    if views is not None and views.votes is not None and len(views.votes):
        agree = float((np.asarray(views.votes) @ fit.rotation[:, 0] > np.cos(np.radians(views.vote_deg))).mean())
        extras["single_view_agreement"] = agree
        cost += views.vote_weight * 3.0 * threshold * (1.0 - agree)
    return cost, PoseFit(True, fit.scale, fit.rotation, fit.translation, mask, ratio, ratio, len(points),
                         extras=extras)


def fit_prior_to_fused_cloud(
    prior_points: np.ndarray,
    points: np.ndarray,
    *,
    up: np.ndarray | None = None,
    options: FusedFitOptions = FusedFitOptions(),
    rng: np.random.Generator | None = None,
    seeds: Sequence[Similarity] = (),
    search: bool = True,
    views: ViewCoverage | None = None,
    scale_bounds: tuple[float, float] | None = None,
    revolution: bool = False,
) -> PoseFit:
    """Fit canonical prior points (M, 3) to a fused cloud (N, 3) in one fixed frame; return the best PoseFit.

    ``up``: the cloud frame's up direction, or None. ``rng`` draws the subsample (default: a generator seeded
    with 0). ``seeds``: current estimates, each refined and compared with the search. ``search=False`` skips
    the search (a cheap refit from estimates that are close). With upright seeds and upright refinement on,
    the search turns the seeds about ``up`` instead of the prior fit's search from scratch. ``views``: where
    the cloud was seen from; the candidates are then also scored by their camera-facing surface.
    ``scale_bounds`` (lo, hi): every refinement's scale is held inside them (the category's size range).
    ``revolution``: the prior is a solid of revolution about its +Y; upright fits then try no turns about ``up``
    (they would change nothing) and refine seeds that differ only by such a turn once.
    """
    if not search and not seeds:
        raise ValueError("search=False needs at least one seed to refine")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {pts.shape}")
    if len(pts) > options.max_points:
        rng = rng if rng is not None else np.random.default_rng(0)
        pts = pts[rng.choice(len(pts), options.max_points, replace=False)]
    upright = up is not None and options.upright_snap_deg > 0

    def search_from_scratch() -> PoseFit:
        return fit_prior_to_points(prior_points, pts, up_hint=up, inlier_threshold=options.inlier_threshold,
                                   min_points=options.min_points, num_yaw=options.num_yaw,
                                   keep_best=options.keep_best, icp_iterations=options.icp_iterations,
                                   scale_bounds=scale_bounds)

    if not seeds and not upright and views is None:
        return search_from_scratch()  # the pseudo-labels' fit
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) < options.min_points:
        return failed_fit(f"too few points: {len(pts)} finite (need {options.min_points})", len(points), len(pts))
    prior = np.asarray(prior_points, dtype=np.float64)
    if upright:
        up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    upright_seeds = [sd for sd in seeds if upright and tilt_deg(np.asarray(sd[1]), up) <= options.upright_snap_deg]
    fits: list[tuple[str, PoseFit]] = [("seed", _seeded(prior, pts, sd, options))
                                       for sd in seeds if not any(sd is u for u in upright_seeds)]
    if search and not upright_seeds:
        found = search_from_scratch()
        if found.success:
            fits.append(("search", found))
    scored = []
    cloud = cKDTree(pts) if views is not None else None
    prior_tree = cKDTree(prior)

    def finish(fit: PoseFit, source: str) -> tuple[float, PoseFit]:
        return _finish(prior, pts, fit, options.inlier_threshold, source, views, cloud, prior_tree)

    starts = list(upright_seeds)
    for source, fit in fits:
        if scale_bounds is not None:
            fit = dataclasses.replace(fit, scale=float(np.clip(fit.scale, *scale_bounds)))
        if upright and tilt_deg(fit.rotation, up) <= options.upright_snap_deg:
            starts.append((fit.scale, fit.rotation, fit.translation))
        else:
            scored.append(finish(fit, source))
    if starts:
        coarse, fine = coarse_fine_distances(prior, starts[0][0], options.inlier_threshold)
        best = fit_upright(prior, pts, starts, up, coarse, fine, 3 * options.inlier_threshold,
                           num_yaw=options.num_yaw if search else 0, keep_best=options.keep_best,
                           iterations=min(options.icp_iterations, 15), tree=prior_tree, revolution=revolution)
        for _, (scale, R, t) in best:
            scale = float(np.clip(scale, *scale_bounds)) if scale_bounds is not None else scale
            fit = PoseFit(True, scale, R, t, np.ones(len(pts), dtype=bool), 1.0, 1.0, len(pts))
            scored.append(finish(fit, "upright"))
    if not scored:
        return failed_fit("no search result and no seed to refine", len(points), len(pts))
    return min(scored, key=lambda item: item[0])[1]
