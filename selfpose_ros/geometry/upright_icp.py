"""ICP with scale for upright objects: the rotation turns about a known up axis only (yaw), never tilts.

Free ICP with scale on a partial view of a bowl or a can tilts the prior a few degrees and, when the tilt is
then snapped away, leaves a scale that no longer fits; repeated, the scale creeps. Here every step solves the
4-DOF-plus-scale problem exactly: with correspondences from the observed points to the nearest vertex of the
placed prior, the best yaw about ``up`` has a closed form (the 2-D Procrustes angle of the components across
``up``), then the scale and translation follow as in Umeyama's method.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.geometry.upright import snap_upright


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about the unit ``axis`` (Rodrigues)."""
    K = _skew(axis)
    return np.eye(3) + np.sin(angle) * K + (1.0 - np.cos(angle)) * K @ K


def upright_similarity(model: np.ndarray, observed: np.ndarray, R0: np.ndarray, up: np.ndarray
                       ) -> tuple[float, np.ndarray, np.ndarray]:
    """Best (s, R, t) with ``observed ~ s R model + t`` (paired (N, 3) points), ``R = Rot(up, yaw) @ R0``."""
    p_mean, q_mean = model.mean(0), observed.mean(0)
    pc = (model - p_mean) @ R0.T  # R0 applied: only the yaw about up remains to be found
    qc = observed - q_mean
    perp = pc - np.outer(pc @ up, up)
    yaw = float(np.arctan2(np.einsum("ij,ij->", qc, pc @ _skew(up).T), np.einsum("ij,ij->", qc, perp)))
    R_yaw = axis_rotation(up, yaw)
    denom = float(np.einsum("ij,ij->", pc, pc))
    s = float(np.einsum("ij,ij->", qc, pc @ R_yaw.T)) / denom if denom > 0 else 1.0
    R = R_yaw @ R0
    return s, R, q_mean - s * (R @ p_mean)


def refine_upright_icp(prior: np.ndarray, observed: np.ndarray, scale: float, R: np.ndarray, t: np.ndarray,
                       up: np.ndarray, max_distance: float, iterations: int = 20, tolerance: float = 1e-4,
                       tree: cKDTree | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Refine a similarity canonical -> cloud frame of prior points (M, 3) against observed points (N, 3).

    The rotation is first snapped upright (canonical +Y along the unit ``up``); each iteration pairs every
    observed point within ``max_distance`` metres of the placed prior with its nearest prior vertex and solves
    :func:`upright_similarity`. Stops when no prior point moves more than about ``tolerance`` metres; returns
    (s, R, t). ``tree``: a cKDTree of ``prior`` (built here when None).
    """
    prior = np.asarray(prior, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    radius = float(np.linalg.norm(prior - prior.mean(0), axis=1).max())
    s, R, t = float(scale), snap_upright(np.asarray(R, dtype=np.float64), up), np.asarray(t, dtype=np.float64)
    tree = tree if tree is not None else cKDTree(prior)  # pairs are found in canonical coordinates
    for _ in range(iterations):
        dist, idx = tree.query((observed - t) @ R / s, distance_upper_bound=max_distance / s)
        keep = np.isfinite(dist)
        if keep.sum() < 6:
            break
        s_new, R_new, t_new = upright_similarity(prior[idx[keep]], observed[keep], R, up)
        if not (np.isfinite(s_new) and s_new > 0):
            break
        moved = max(abs(s_new - s) * radius, float(np.abs(t_new - t).max()),
                    radius * s * float(np.abs(R_new - R).max()))
        s, R, t = s_new, R_new, t_new
        if moved < tolerance:
            break
    return s, R, t


def _truncated_cost(tree: cKDTree, points: np.ndarray, sim: tuple[float, np.ndarray, np.ndarray],
                    truncate: float) -> float:
    """Mean distance (metres, truncated) of points to the nearest prior vertex placed by ``sim``."""
    s, R, t = sim
    dist, _ = tree.query((points - t) @ R / s, distance_upper_bound=truncate / s)
    return float(np.minimum(dist * s, truncate).mean())


def _same_placement(a: tuple[float, np.ndarray, np.ndarray], b: tuple[float, np.ndarray, np.ndarray], radius: float,
                    tolerance: float) -> bool:
    """True when two upright similarities of a solid of revolution (of ``radius``) place it within ``tolerance``
    metres of each other: their turn about the axis leaves the placed shape as it is."""
    (s1, _, t1), (s2, _, t2) = a, b
    return max(abs(s1 - s2) * radius, float(np.abs(t1 - t2).max())) < tolerance


def fit_upright(prior: np.ndarray, points: np.ndarray, starts: list[tuple[float, np.ndarray, np.ndarray]],
                up: np.ndarray, coarse_distance: float, fine_distance: float, truncate: float, *,
                num_yaw: int = 0, keep_best: int = 2, iterations: int = 15, tree: cKDTree | None = None,
                revolution: bool = False, fine_best: int | None = None,
                model_outliers: Callable[[tuple[float, np.ndarray, np.ndarray]], float] | None = None,
                ) -> list[tuple[float, tuple[float, np.ndarray, np.ndarray]]]:
    """Upright ICP from several starts; return (truncated cost, (s, R, t)) of each refined one, best first.

    Every start is refined (coarse steps on a 150-point subsample, then fine steps on all ``points``). With
    ``num_yaw`` > 1, ``num_yaw - 1`` turns of the first start about ``up`` (its centre and scale kept) take
    three coarse steps each, are scored on the subsample, and the ``keep_best`` best are refined too.
    ``revolution``: the prior is a solid of revolution about its +Y (bottle, bowl, can), so a turn about ``up``
    changes nothing: no turns are tried, and coarse results that place it within ``fine_distance`` / 4 of an
    earlier one, whatever their turn, are refined once.
    ``fine_best``: only this many coarse results, the best on the subsample, take the fine steps (default all).
    ``model_outliers``: the share (0-1) of a placed prior the data contradicts (``geometry.free_space``); results
    are ranked as if that share of points lay at ``truncate`` (the returned costs are the points' alone).
    """
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    tree = tree if tree is not None else cKDTree(prior)
    small = points[:: max(1, len(points) // 150)]
    seeds = [(s, snap_upright(np.asarray(R, dtype=np.float64), up), np.asarray(t, dtype=np.float64))
             for s, R, t in starts]
    chosen = [refine_upright_icp(prior, small, s, R, t, up, coarse_distance, iterations, tree=tree)
              for s, R, t in seeds]
    if num_yaw > 1 and seeds and not revolution:
        s0, R0, t0 = seeds[0]
        turns = []
        for k in range(1, num_yaw):
            sim = refine_upright_icp(prior, small, s0, axis_rotation(up, 2.0 * np.pi * k / num_yaw) @ R0, t0, up,
                                     coarse_distance, 3, tree=tree)
            turns.append((_truncated_cost(tree, small, sim, truncate), sim))
        turns.sort(key=lambda item: item[0])
        chosen += [sim for _, sim in turns[:keep_best]]
    if revolution:  # the fine steps are the dear part: one per distinct placement
        radius = float(np.linalg.norm(prior - prior.mean(0), axis=1).max())
        distinct: list[tuple[float, np.ndarray, np.ndarray]] = []
        for sim in chosen:
            if not any(_same_placement(sim, kept, radius, fine_distance / 4.0) for kept in distinct):
                distinct.append(sim)
        chosen = distinct
    def ranked(cost: float, sim: tuple[float, np.ndarray, np.ndarray]) -> float:
        return cost if model_outliers is None else cost + truncate * float(model_outliers(sim))

    if fine_best is not None and len(chosen) > fine_best:
        chosen = sorted(chosen, key=lambda sim: ranked(_truncated_cost(tree, small, sim, truncate), sim))[:fine_best]
    fine = []
    for s, R, t in chosen:
        sim = refine_upright_icp(prior, points, s, R, t, up, fine_distance, iterations, tree=tree)
        cost = _truncated_cost(tree, points, sim, truncate)
        fine.append((ranked(cost, sim), cost, sim))
    fine.sort(key=lambda item: item[0])
    return [(cost, sim) for _, cost, sim in fine]
