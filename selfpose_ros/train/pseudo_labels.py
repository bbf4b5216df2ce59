"""Self-supervised pose pseudo-labels from trajectories: fuse an instance's depth over the whole trajectory.

For a static object the robot's camera motion puts every frame's depth points into one world frame, so a
trajectory sees the object from many sides. The category prior is fitted once to that fused cloud (the
depth-only fit of ``geometry.prior_fit``: no learning, no ground truth), and the single world pose is
carried back into every frame with the camera motion: ``T_cam_obj(f) = inv(T_map_cam(f)) T_map_obj``. The fit is
``geometry.fused_fit.fit_prior_to_fused_cloud``, the same function pose_estimator's world-frame tracks refit with.
Partial single views make scale, centre and the mug's handle direction ambiguous; the fused cloud does not.

``mode="frame"`` fits each crop's own points instead (no camera motion: the ablation), on at most
``max_frames_per_group`` frames per group; the other crops get no label.

Each crop contributes only its object's own surface (``geometry.instance_surface``, the same selection as
the back-ends: a bleeding mask's background and flying pixels are dropped), the fit's scale is held within
the category's size range (``shapes.size_ranges``), and a fit whose size is still outside it by more than
the clamp factor gets no label (within it, the label's quality is lowered as an estimate's confidence is).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from selfpose_ros.geometry.fused_fit import FusedFitOptions, fit_prior_to_fused_cloud
from selfpose_ros.geometry.instance_surface import object_surface
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.shapes.size_ranges import check_size, similarity_scale_bounds

log = logging.getLogger(__name__)

#: Changes whenever the labels a dataset gets change (part of the training cache key).
PSEUDO_LABEL_VERSION = 2

PseudoMode = Literal["trajectory", "frame"]


@dataclass(frozen=True)
class PseudoLabel:
    """A pose pseudo-label of one crop: canonical -> camera similarity and the fit's quality."""

    scale: float
    R: np.ndarray  # (3, 3)
    t: np.ndarray  # (3,) metres
    quality: float  # inlier ratio of the fit in [0, 1]


def crop_points(depth: np.ndarray, mask: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) of a crop's object surface (depth 0 = none; ``geometry.instance_surface``)."""
    keep = object_surface(depth, K, np.asarray(mask, bool)).keep
    return backproject_np(depth, K, keep)


def fuse_group(crops: list, T_map_cam: list[np.ndarray], per_frame: int, rng: np.random.Generator
               ) -> np.ndarray:
    """World-frame points (N, 3) of one instance's crops (CropRecord-like: depth, mask, K) over a trajectory."""
    parts = []
    for c, T in zip(crops, T_map_cam):
        pts = crop_points(c.depth, c.mask, c.K)
        if len(pts) > per_frame:
            pts = pts[rng.choice(len(pts), per_frame, replace=False)]
        parts.append(pts @ T[:3, :3].T + T[:3, 3])
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def _fit(prior: np.ndarray, points: np.ndarray, up: np.ndarray | None, threshold: float, max_points: int,
         rng: np.random.Generator, category: str, num_yaw: int = 36, keep_best: int = 8):
    """The shared fused-cloud fit (pose_estimator's world-frame tracks refit with it too), then the size policy."""
    extents = prior.max(0) - prior.min(0)
    options = FusedFitOptions(inlier_threshold=threshold, max_points=max_points, num_yaw=num_yaw,
                              keep_best=keep_best, min_points=30)
    fit = fit_prior_to_fused_cloud(prior, points, up=up, options=options, rng=rng,
                                   scale_bounds=similarity_scale_bounds(category, extents))
    if not fit.success:
        return fit, 0.0
    check = check_size(category, fit.scale * extents)
    if check.size is None:
        return dataclasses.replace(fit, success=False, failure_reason=check.failure), 0.0
    return fit, check.confidence_factor


def _to_camera(fit, T_map_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    R_cm, t_cm = T_map_cam[:3, :3], T_map_cam[:3, 3]
    return R_cm.T @ fit.rotation, R_cm.T @ (fit.translation - t_cm)


def compute_pseudo_labels(
    dataset,
    priors: Mapping[str, np.ndarray],
    mode: PseudoMode = "trajectory",
    *,
    use_up: bool = False,
    world_up: tuple[float, float, float] = (0.0, 0.0, 1.0),
    inlier_threshold: float = 0.006,
    per_frame_points: int = 150,
    max_points: int = 3000,
    max_frames_per_group: int = 6,
    seed: int = 0,
    progress=None,
) -> dict[int, PseudoLabel]:
    """Pseudo-labels {dataset index: PseudoLabel} for a TrajectoryDataset; ground truth is never read.

    ``priors``: category -> canonical prior points (M, 3). ``use_up``: search only yaw about the world's up
    axis ``world_up`` (objects standing upright); otherwise the prior fit's 24 PCA-axis candidates.
    """
    if mode not in ("trajectory", "frame"):
        raise ValueError(f"pseudo-label mode must be 'trajectory' or 'frame', got {mode!r}")
    rng = np.random.default_rng(seed)
    labels: dict[int, PseudoLabel] = {}
    up_world = np.asarray(world_up, dtype=np.float64)
    groups = list(enumerate(dataset.groups))
    for g, members in (progress(groups) if progress else groups):
        crops = [dataset.crops[i] for i in members]
        cat = crops[0].category
        if cat not in priors:
            raise ValueError(f"no prior for category {cat!r}")
        Ts = [dataset.frames[c.frame].T_map_cam for c in crops]
        if mode == "trajectory":
            pts = fuse_group(crops, Ts, per_frame_points, rng)
            fit, factor = _fit(priors[cat], pts, up_world if use_up else None, inlier_threshold, max_points, rng, cat)
            if not fit.success:
                log.warning("group %d (%s): no fused fit: %s", g, dataset.group_keys[g], fit.failure_reason)
                continue
            for i, T in zip(members, Ts):
                R, t = _to_camera(fit, T)
                labels[i] = PseudoLabel(float(fit.scale), R, t, float(fit.inlier_ratio) * factor)
        else:
            pick = np.linspace(0, len(members) - 1, min(max_frames_per_group, len(members))).round().astype(int)
            for k in sorted(set(pick.tolist())):
                c, T = crops[k], Ts[k]
                pts = crop_points(c.depth, c.mask, c.K)
                up = T[:3, :3].T @ up_world if use_up else None
                fit, factor = _fit(priors[cat], pts, up, inlier_threshold, max_points, rng, cat)
                if fit.success:
                    labels[members[k]] = PseudoLabel(float(fit.scale), fit.rotation, fit.translation,
                                                      float(fit.inlier_ratio) * factor)
    return labels


def labels_to_arrays(labels: Mapping[int, PseudoLabel], size: int) -> dict[str, np.ndarray]:
    """Dense arrays over dataset indices: valid (N,), scale (N,), R (N,3,3), t (N,3), quality (N,)."""
    out = {"valid": np.zeros(size, bool), "scale": np.ones(size, np.float32),
           "R": np.tile(np.eye(3, dtype=np.float32), (size, 1, 1)), "t": np.zeros((size, 3), np.float32),
           "quality": np.zeros(size, np.float32)}
    for i, lab in labels.items():
        out["valid"][i] = True
        out["scale"][i] = lab.scale
        out["R"][i] = lab.R
        out["t"][i] = lab.t
        out["quality"][i] = lab.quality
    return out
