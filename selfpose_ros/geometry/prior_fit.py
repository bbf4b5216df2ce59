"""Depth-only baseline: fit a category prior's canonical points to an instance's observed point cloud.

No learning. Initialisation: observed centroid for translation, the ratio of PCA-frame box diagonals for
scale, and a set of candidate rotations: either the 24 proper axis assignments between the prior's and the
observed cloud's PCA frames (all permutations and sign flips with det +1), or, when the caller knows the
camera-frame direction of the object's up axis (``up_hint``, e.g. from gravity), ``num_yaw`` rotations about
it. Each candidate is refined by Open3D ICP with scaling (coarse then fine correspondence distance), and the
candidate whose observed points lie closest to the placed prior (mean truncated distance) wins. The
candidates are first refined on subsampled clouds (``max_search_points``); the ``keep_best`` best are then
refined on up to ``max_fine_points`` observed points and scored on all of them.
``scale_bounds`` (lo, hi), when given, hold every refinement's scale inside them: a refinement whose
scale leaves them is redone rigidly at the nearest bound, so a fit cannot grow to reach stray points.
The initial scale comes from robust (2nd to 98th percentile) extents, not the outermost points.
The result is a :class:`PoseFit`; its inliers are the observed points within ``inlier_threshold`` of the
placed prior, and its ``confidence`` is that inlier ratio.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.geometry.icp import RefinementBounds, refine_pose_icp
from selfpose_ros.geometry.pose_fit import PoseFit, failed_fit
from selfpose_ros.geometry.rotations import rotation_about_y_np
from selfpose_ros.geometry.transforms import apply_similarity_np

_UNBOUNDED = RefinementBounds(np.inf, np.inf, np.inf)


def _pca_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (centroid, proper rotation whose columns are principal axes by decreasing variance)."""
    c = points.mean(0)
    _, vecs = np.linalg.eigh(np.cov((points - c).T))
    E = vecs[:, ::-1].copy()
    if np.linalg.det(E) < 0:
        E[:, 2] *= -1
    return c, E


def proper_signed_permutations() -> list[np.ndarray]:
    """Return the 24 rotation matrices that permute and flip coordinate axes (the octahedral group)."""
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            P = np.zeros((3, 3))
            P[np.arange(3), perm] = signs
            if np.linalg.det(P) > 0:
                mats.append(P)
    return mats


def _rotation_taking_y_to(up: np.ndarray) -> np.ndarray:
    """Return a rotation R with R @ [0, 1, 0] = up (unit)."""
    y = np.array([0.0, 1.0, 0.0])
    v = np.cross(y, up)
    c = float(np.dot(y, up))
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def candidate_rotations(prior: np.ndarray, observed: np.ndarray, up_hint: np.ndarray | None,
                        num_yaw: int) -> list[np.ndarray]:
    """Return the initial rotations canonical -> camera tried by :func:`fit_prior_to_points`."""
    if up_hint is not None:
        up = np.asarray(up_hint, dtype=np.float64)
        if up.shape != (3,) or not np.linalg.norm(up) > 0:
            raise ValueError(f"up_hint must be a non-zero 3-vector, got {up_hint!r}")
        base = _rotation_taking_y_to(up / np.linalg.norm(up))
        return [base @ rotation_about_y_np(2 * np.pi * k / num_yaw) for k in range(num_yaw)]
    _, E_prior = _pca_frame(prior)
    _, E_obs = _pca_frame(observed)
    return [E_obs @ P @ E_prior.T for P in proper_signed_permutations()]


def initial_scale(prior: np.ndarray, observed: np.ndarray, scale_bounds: tuple[float, float] | None = None) -> float:
    """Scale taking prior points (M, 3) to observed ones (K, 3): the ratio of their PCA-frame box diagonals, the
    observed one robust (2nd to 98th percentile), clipped to ``scale_bounds``; 0 when the points have no spread."""
    c_prior, E_prior = _pca_frame(prior)
    c_obs, E_obs = _pca_frame(observed)
    ext_prior = np.ptp((prior - c_prior) @ E_prior, axis=0)
    lo_hi = np.percentile((observed - c_obs) @ E_obs, [2.0, 98.0], axis=0)
    s0 = float(np.linalg.norm(lo_hi[1] - lo_hi[0]) / np.linalg.norm(ext_prior))
    if not s0 > 0:
        return 0.0
    return float(np.clip(s0, *scale_bounds)) if scale_bounds is not None else s0


def _truncated_cost(fit: PoseFit, prior: np.ndarray, obs: np.ndarray, truncate: float
                    ) -> tuple[float, np.ndarray]:
    """Return (mean truncated distance of observed points to the placed prior, all distances)."""
    dist, _ = cKDTree(apply_similarity_np(fit.scale, fit.rotation, fit.translation, prior)).query(obs)
    return float(np.minimum(dist, truncate).mean()), dist


def fit_prior_to_points(
    prior_points: np.ndarray,
    observed_points: np.ndarray,
    *,
    up_hint: np.ndarray | None = None,
    num_yaw: int = 12,
    inlier_threshold: float = 0.01,
    coarse_distance: float | None = None,
    icp_iterations: int = 40,
    refine_scale: bool = True,
    min_points: int = 20,
    min_inlier_ratio: float = 0.0,
    max_search_points: int = 300,
    max_fine_points: int = 1500,
    keep_best: int = 3,
    scale_bounds: tuple[float, float] | None = None,
    starts: Sequence[PoseFit] = (),
) -> PoseFit:
    """Fit canonical prior points (M, 3) to observed camera-frame points (K, 3); return the best PoseFit.

    ``starts``: further initial poses (e.g. another estimator's) that compete with the yaw candidates.
    """
    prior = np.asarray(prior_points, dtype=np.float64)
    obs_all = np.asarray(observed_points, dtype=np.float64)
    if prior.ndim != 2 or prior.shape[1] != 3 or obs_all.ndim != 2 or obs_all.shape[1] != 3:
        raise ValueError(f"prior_points and observed_points must be (N, 3), got {prior.shape}, {obs_all.shape}")
    if not inlier_threshold > 0:
        raise ValueError(f"inlier_threshold must be positive (metres), got {inlier_threshold}")
    prior = prior[np.isfinite(prior).all(1)]
    usable = np.isfinite(obs_all).all(1)
    obs = obs_all[usable]
    n_input, n = len(obs_all), len(obs)
    if n < min_points or len(prior) < 4:
        return failed_fit(f"too few points: {n} finite observed (need {min_points}), {len(prior)} prior",
                          n_input, n)
    c_prior, E_prior = _pca_frame(prior)
    c_obs = obs.mean(0)
    ext_prior = np.ptp((prior - c_prior) @ E_prior, axis=0)
    s0 = initial_scale(prior, obs, scale_bounds)
    if not s0 > 0:
        return failed_fit("observed points have no spread: scale cannot be initialised", n_input, n)

    def refine(fit: PoseFit, prior_pts: np.ndarray, obs_pts: np.ndarray, distance: float) -> PoseFit:
        out = refine_pose_icp(fit, prior_pts, obs_pts, max_correspondence_distance=distance,
                              refine_scale=refine_scale, max_iterations=icp_iterations, bounds=_UNBOUNDED).fit
        if scale_bounds is not None and not scale_bounds[0] <= out.scale <= scale_bounds[1]:
            held = dataclasses.replace(out, scale=float(np.clip(out.scale, *scale_bounds)))
            out = refine_pose_icp(held, prior_pts, obs_pts, max_correspondence_distance=distance,
                                  refine_scale=False, max_iterations=icp_iterations, bounds=_UNBOUNDED).fit
        return out

    coarse = coarse_distance if coarse_distance is not None else 0.25 * s0 * float(np.linalg.norm(ext_prior))
    truncate = 3.0 * inlier_threshold

    # Coarse search on subsampled clouds (evenly spaced indices: deterministic), then refine the best few.
    obs_small = obs[:: max(1, len(obs) // max_search_points)]
    prior_small = prior[:: max(1, len(prior) // max_search_points)]
    coarse_fits = []
    for R0 in candidate_rotations(prior, obs, up_hint, num_yaw):
        t0 = c_obs - s0 * R0 @ c_prior
        start = PoseFit(True, s0, R0, t0, np.ones(n_input, dtype=bool), 1.0, 1.0, n)
        fit = refine(start, prior_small, obs_small, coarse)
        coarse_fits.append((_truncated_cost(fit, prior_small, obs_small, truncate)[0], fit))
    for start in starts:
        scale = float(np.clip(start.scale, *scale_bounds)) if scale_bounds is not None else start.scale
        fit = refine(dataclasses.replace(start, scale=scale), prior_small, obs_small, coarse)
        coarse_fits.append((_truncated_cost(fit, prior_small, obs_small, truncate)[0], fit))
    coarse_fits.sort(key=lambda item: item[0])
    best = None
    obs_fine = obs[:: max(1, len(obs) // max_fine_points)]
    for _, fit in coarse_fits[:keep_best]:
        fit = refine(fit, prior, obs_fine, max(inlier_threshold, coarse / 4))
        cost, dist = _truncated_cost(fit, prior, obs, truncate)
        if best is None or cost < best[0]:
            best = (cost, fit, dist)
    cost, fit, dist = best
    mask = np.zeros(n_input, dtype=bool)
    mask[np.flatnonzero(usable)] = dist < inlier_threshold
    ratio = float(mask.sum()) / n
    if ratio < min_inlier_ratio:
        return failed_fit(f"inlier ratio {ratio:.3f} below min_inlier_ratio {min_inlier_ratio}", n_input, n,
                          inlier_mask=mask, inlier_ratio=ratio)
    return PoseFit(success=True, scale=fit.scale, rotation=fit.rotation, translation=fit.translation,
                   inlier_mask=mask, inlier_ratio=ratio, confidence=ratio, num_correspondences=n,
                   extras={"mean_truncated_distance_m": cost})
