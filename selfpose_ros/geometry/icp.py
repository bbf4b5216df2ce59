"""ICP refinement of a fitted similarity against observed depth points (Open3D point-to-point).

Direction: the *observed* points (camera frame) are registered onto the model points placed by the
current pose, so every observed point has a true counterpart (a depth camera sees only part of the object;
the unseen back of the model is simply never matched). The correction found is applied to the pose.
``refine_scale`` False holds the scale (rigid ICP); True refines it too (``with_scaling=True``).
A refinement that moves the pose further than ``RefinementBounds`` allows is rejected: the unrefined pose
is kept and the result says why, because a large jump usually means ICP slid into a wrong local minimum.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import open3d as o3d

from selfpose_ros.geometry.pose_fit import PoseFit
from selfpose_ros.geometry.rotations import project_to_rotation_np, relative_rotation_angle_np
from selfpose_ros.geometry.transforms import apply_similarity_np, compose_similarity_np, invert_similarity_np


@dataclass(frozen=True)
class RefinementBounds:
    """How far a refinement may move a pose before it is rejected."""

    max_translation_m: float = 0.03
    max_rotation_deg: float = 15.0
    max_scale_ratio: float = 1.25  # max(s_new / s, s / s_new)


@dataclass(frozen=True)
class IcpRefinement:
    """The pose kept after refinement, whether ICP's pose was accepted, and what it did."""

    fit: PoseFit
    refined: bool
    rejected_reason: str | None
    fitness: float  # fraction of observed points with a model point within max_correspondence_distance
    inlier_rmse: float  # metres, over those matched points
    delta_translation_m: float
    delta_rotation_deg: float
    scale_ratio: float


def _cloud(points: np.ndarray) -> o3d.geometry.PointCloud:
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(points, dtype=np.float64)))


def icp_similarity(source: np.ndarray, target: np.ndarray, max_correspondence_distance: float,
                   init: np.ndarray | None = None, with_scaling: bool = False,
                   max_iterations: int = 30) -> tuple[np.ndarray, float, float]:
    """Run Open3D point-to-point ICP source (N, 3) -> target (M, 3); return (4x4 T, fitness, inlier_rmse)."""
    reg = o3d.pipelines.registration
    result = reg.registration_icp(
        _cloud(source), _cloud(target), float(max_correspondence_distance),
        np.eye(4) if init is None else np.asarray(init, dtype=np.float64),
        reg.TransformationEstimationPointToPoint(with_scaling),
        reg.ICPConvergenceCriteria(max_iteration=int(max_iterations)))
    return np.asarray(result.transformation).copy(), float(result.fitness), float(result.inlier_rmse)


def split_similarity_matrix(T: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Split a 4x4 ``[[s R, t], [0, 1]]`` into (s, R, t), re-orthonormalising R."""
    A = T[:3, :3]
    det = float(np.linalg.det(A))
    if not det > 0:
        raise ValueError(f"transform block has determinant {det}: not a proper similarity")
    s = det ** (1.0 / 3.0)
    return s, project_to_rotation_np(A / s), T[:3, 3].copy()


def refine_pose_icp(
    initial: PoseFit,
    model_points: np.ndarray,
    observed_points: np.ndarray,
    *,
    max_correspondence_distance: float = 0.01,
    refine_scale: bool = False,
    max_iterations: int = 30,
    bounds: RefinementBounds | None = None,
) -> IcpRefinement:
    """Refine ``initial`` (canonical -> camera) so the model points (M, 3) fit observed points (K, 3)."""
    if not initial.success or initial.rotation is None or initial.scale is None or initial.translation is None:
        raise ValueError(f"cannot refine a failed fit ({initial.failure_reason})")
    model = np.asarray(model_points, dtype=np.float64)
    obs = np.asarray(observed_points, dtype=np.float64)
    if model.ndim != 2 or model.shape[1] != 3 or obs.ndim != 2 or obs.shape[1] != 3:
        raise ValueError(f"model_points and observed_points must be (N, 3), got {model.shape}, {obs.shape}")
    if not max_correspondence_distance > 0:
        raise ValueError(f"max_correspondence_distance must be positive, got {max_correspondence_distance}")
    bounds = bounds or RefinementBounds()
    model = model[np.isfinite(model).all(1)]
    obs = obs[np.isfinite(obs).all(1)]
    s0, R0, t0 = initial.scale, initial.rotation, initial.translation

    def keep(reason: str, fitness=0.0, rmse=0.0, dt=0.0, dr=0.0, ratio=1.0) -> IcpRefinement:
        return IcpRefinement(initial, False, reason, fitness, rmse, dt, dr, ratio)

    if len(obs) < 3 or len(model) < 3:
        return keep(f"too few finite points for ICP: {len(obs)} observed, {len(model)} model")
    placed = apply_similarity_np(s0, R0, t0, model)
    T, fitness, rmse = icp_similarity(obs, placed, max_correspondence_distance, None, refine_scale,
                                      max_iterations)
    if fitness <= 0.0:
        return keep(f"no observed point within {max_correspondence_distance} m of the placed model")
    # obs -> placed model is T; so model_cam = T^-1 (placed): new pose = T^-1 o (s0, R0, t0).
    try:
        s_d, R_d, t_d = split_similarity_matrix(T)
    except ValueError as exc:  # Open3D's scaled ICP can collapse (scale 0) on thin, degenerate point sets
        return keep(f"ICP result rejected: {exc}", fitness, rmse)
    inv = invert_similarity_np(s_d, R_d, t_d)
    s1, R1, t1 = compose_similarity_np(inv, (s0, R0, t0))
    s1, R1, t1 = float(s1), project_to_rotation_np(R1), np.asarray(t1)
    dt = float(np.linalg.norm(t1 - t0))
    dr = float(np.degrees(relative_rotation_angle_np(R1, R0)))
    ratio = float(max(s1 / s0, s0 / s1))
    reasons = []
    if dt > bounds.max_translation_m:
        reasons.append(f"translation moved {dt:.4f} m > {bounds.max_translation_m} m")
    if dr > bounds.max_rotation_deg:
        reasons.append(f"rotation moved {dr:.2f} deg > {bounds.max_rotation_deg} deg")
    if ratio > bounds.max_scale_ratio:
        reasons.append(f"scale changed by factor {ratio:.3f} > {bounds.max_scale_ratio}")
    if reasons:
        return keep("refinement out of bounds: " + "; ".join(reasons), fitness, rmse, dt, dr, ratio)
    extras = {**initial.extras, "icp_fitness": fitness, "icp_rmse_m": rmse}
    fit = dataclasses.replace(initial, scale=s1, rotation=R1, translation=t1, extras=extras)
    return IcpRefinement(fit, True, None, fitness, rmse, dt, dr, ratio)
