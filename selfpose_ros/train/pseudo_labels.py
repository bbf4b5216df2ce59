"""Self-supervised pose pseudo-labels from trajectories: fuse an instance's depth over the whole trajectory.

For a static object the robot's camera motion puts every frame's depth points into one world frame, so a
trajectory sees the object from many sides. The category prior is fitted once to that fused cloud (the
depth-only fit of ``geometry.prior_fit``: no learning, no ground truth), and the single world pose is
carried back into every frame with the camera motion: ``T_cam_obj(f) = inv(T_map_cam(f)) T_map_obj``. The fit is
``geometry.fused_fit.fit_prior_to_fused_cloud``, the same function pose_estimator's world-frame tracks refit with.
Partial single views make scale, centre and the mug's handle direction ambiguous; the fused cloud does not.
The instance's own per-axis size comes from the fused cloud's robust box (``train/pseudo_extents.py``); the
label then uses that box's centre and diagonal (the NOCS frame of the instance). For the mug, each crop is
flagged ``handle_visible`` with ``shapes.handle`` (the crop's depth, in the label's box, holds points in the
handle's part of it): crops without it are trained as symmetric about +Y (the NOCS convention).

``mode="frame"`` fits each crop's own points instead (no camera motion: the ablation), on at most
``max_frames_per_group`` frames per group; the other crops get no label.

Each crop contributes only its object's own surface. With ``scale_ranges`` (what the training recipes pass)
that is ``train/fused_cloud.py``'s selection (core, support layer and 3D components per crop, agreement of
several frames in the world); without, ``geometry.instance_surface`` per crop, the back-ends' selection. The
fit's scale is held within the category's size range (``shapes.size_ranges``), and a fit whose size is still
outside it by more than the clamp factor gets no label (within it, the label's quality is lowered as an
estimate's confidence is).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.geometry.fused_fit import FusedFitOptions, fit_prior_to_fused_cloud
from selfpose_ros.geometry.handle_azimuth import (
    FUSED_WALL_SIGMAS,
    face_direction,
    face_protrusion,
    measured_body_box,
    voted_direction,
)
from selfpose_ros.geometry.instance_surface import object_surface
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.upright import tilt_deg
from selfpose_ros.inference.handle_yaw import MAX_TILT_DEG
from selfpose_ros.shapes.handle import HANDLE_CATEGORIES, handle_visible
from selfpose_ros.shapes.size_ranges import check_size, similarity_scale_bounds
from selfpose_ros.train.fused_cloud import consistent_points, core_points, drop_support
from selfpose_ros.train.pseudo_extents import fused_box

if TYPE_CHECKING:
    from selfpose_ros.train.fusion_labels import WorldBox

log = logging.getLogger(__name__)

#: Changes whenever the labels a dataset gets change (part of the training cache key).
PSEUDO_LABEL_VERSION = 4

PseudoMode = Literal["trajectory", "frame"]


@dataclass(frozen=True)
class PseudoLabel:
    """A pose pseudo-label of one crop: canonical -> camera similarity and the fit's quality."""

    scale: float  # metres per canonical unit (the box diagonal when ``extents_valid``)
    R: np.ndarray  # (3, 3)
    t: np.ndarray  # (3,) metres (the box centre when ``extents_valid``)
    quality: float  # inlier ratio of the fit in [0, 1]
    extents: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))  # (3,) metres, per canonical axis
    extents_valid: bool = False
    handle_visible: bool = True  # mugs: the handle shows in this crop (others: True)


def crop_points(depth: np.ndarray, mask: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) of a crop's object surface (depth 0 = none; ``geometry.instance_surface``)."""
    keep = object_surface(depth, K, np.asarray(mask, bool)).keep
    return backproject_np(depth, K, keep)


def fuse_group(crops: list, T_map_cam: list[np.ndarray], per_frame: int, rng: np.random.Generator,
               max_radius: float = np.inf, up: np.ndarray | None = None) -> np.ndarray:
    """World-frame points (N, 3) of one instance's crops (CropRecord-like: depth, mask, K) over a trajectory.

    With a finite ``max_radius`` the object's own points are kept (``train/fused_cloud.py``): each crop's
    points near its core, those several frames agree on, and (with ``up``) none of the support's.
    """
    robust = np.isfinite(max_radius)
    parts = []
    for c, T in zip(crops, T_map_cam):
        up_cam = T[:3, :3].T @ up if up is not None else None
        pts = core_points(c.depth, c.mask, c.K, max_radius, up=up_cam) if robust else \
            crop_points(c.depth, c.mask, c.K)
        n = 4 * per_frame if robust else per_frame
        if len(pts) > n:
            pts = pts[rng.choice(len(pts), n, replace=False)]
        parts.append(pts @ T[:3, :3].T + T[:3, 3])
    if not parts:
        return np.zeros((0, 3))
    if not robust:
        return np.concatenate(parts)
    pts = consistent_points(parts, min_frames=2 if len(parts) < 8 else 3)
    if up is not None:
        pts = drop_support(pts, up)
    keep = per_frame * len(parts)
    return pts[rng.choice(len(pts), keep, replace=False)] if len(pts) > keep else pts


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


def _best_fit(shapes: Sequence[np.ndarray], points: np.ndarray, up: np.ndarray | None, threshold: float,
              max_points: int, rng: np.random.Generator, category: str, scale_range: tuple[float, float]):
    """(fit, size factor, shape) of the shape whose fit lies closest to the points (mean truncated distance).

    Fits outside [0.6 lowest, 1.6 highest] of the category's diagonal range are passed over; when no shape
    fits, the first shape's (the prior's) failed fit is returned, with its reason.
    """
    lo, hi = scale_range
    first, best = None, None
    for k, shape in enumerate(shapes):  # the prior draws from ``rng`` as without templates: same labels then
        fit, factor = _fit(shape, points, up, threshold, max_points,
                           rng if k == 0 else np.random.default_rng([k, len(points)]), category)
        if first is None:
            first = (fit, factor, shape)
        if not fit.success or not 0.6 * lo <= fit.scale <= 1.6 * hi:
            continue
        cost = float(fit.extras.get("mean_truncated_distance_m", np.inf))
        if best is None or cost < best[0]:
            best = (cost, (fit, factor, shape))
    return best[1] if best is not None else first


def _to_camera(R_w: np.ndarray, t_w: np.ndarray, T_map_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    R_cm, t_cm = T_map_cam[:3, :3], T_map_cam[:3, 3]
    return R_cm.T @ R_w, R_cm.T @ (t_w - t_cm)


def _boxed(fit, points: np.ndarray, prior: np.ndarray, category: str):
    """(R, t, scale, extents, valid) of a fit re-expressed in the fused cloud's own box."""
    box = fused_box(points, fit.rotation, fit.translation, float(fit.scale), prior, SYMMETRY.get(category, "none"))
    if not box.valid:
        return fit.rotation, fit.translation, float(fit.scale), box.extents, False
    t = fit.translation + fit.rotation @ box.centre
    return fit.rotation, t, float(np.linalg.norm(box.extents)), box.extents, True


def face_fused_handle(R: np.ndarray, t: np.ndarray, extents: np.ndarray, points: np.ndarray, up: np.ndarray,
                      crops: Sequence = (), T_map_cam: Sequence[np.ndarray] = ()
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, t, extents) of a standing mug's box (world frame, t its centre) turned to face its handle, measured from
    its body axis: where the ``crops`` (with their poses ``T_map_cam``) that show it agree, searched in each crop's
    depth inside its mask (``geometry.handle_azimuth.voted_direction``, the fused tracks' vote); else as the fused
    cloud ``points`` shows it, searched as pose_estimator's fused tracks do (above the thick wall's scatter).
    Unchanged when it leans or no handle is found (the fit's yaw then stands)."""
    if tilt_deg(R, up) > MAX_TILT_DEG:
        return R, t, extents
    votes = []
    for crop, T in zip(crops, T_map_cam):
        Rc = T[:3, :3].T
        seen = backproject_np(crop.depth, crop.K, np.asarray(crop.mask, bool) & (crop.depth > 0))
        found = face_protrusion(Rc @ R, Rc @ (t - T[:3, 3]), extents, seen, Rc @ up)
        if found[3].found:
            votes.append(T[:3, :3] @ found[0][:, 0])
    R2, t2, size, found = face_protrusion(R, t, extents, points, up, FUSED_WALL_SIGMAS)
    voted = voted_direction(np.array(votes), up)
    if voted is not None:
        R2, t2, size = face_direction(R, t, extents, voted, up, found.axis)
    elif not found.found:
        return R, t, extents
    t2, size = measured_body_box(R2, t2, size, found, up)
    return R2, t2, size


class _HandleTest:
    """Per-crop handle visibility (``shapes.handle``; always True for categories without a handle)."""

    def __init__(self, category: str) -> None:
        self.active = category in HANDLE_CATEGORIES

    def __call__(self, crop, R: np.ndarray, t: np.ndarray, extents: np.ndarray | None) -> bool:
        """Whether the crop's depth shows the handle of the box (R, t camera frame, metric extents)."""
        if not self.active:
            return True
        if extents is None or not np.all(np.isfinite(extents)):
            return False
        return handle_visible(R, t, extents, crop.depth, crop.mask, crop.K)


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
    scale_ranges: Mapping[str, tuple[float, float]] | None = None,
    templates: Mapping[str, Sequence[np.ndarray]] | None = None,
    boxes: Mapping[int, WorldBox] | None = None,
) -> dict[int, PseudoLabel]:
    """Pseudo-labels {dataset index: PseudoLabel} for a TrajectoryDataset; ground truth is never read.

    ``priors``: category -> canonical prior points (M, 3). ``use_up``: search only yaw about the world's up
    axis ``world_up`` (objects standing upright); otherwise the prior fit's 24 PCA-axis candidates.
    ``scale_ranges``: category -> (lowest, highest) diagonal in metres (the shape library's); with it the
    fused cloud keeps only the object's own points and a fit outside [0.6 lowest, 1.6 highest] is rejected.
    ``templates``: category -> more canonical shapes (``shapes.templates``) fitted besides the prior; the
    closest fit wins (its shape then sizes the label's box).
    ``boxes``: group index -> the world box pose_estimator's fusion gave it (``train/fusion_labels.py``); those
    groups take it (trajectory mode) instead of a fit of their fused crops.
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
        handle = _HandleTest(cat)
        lo, hi = (scale_ranges or {}).get(cat, (0.0, np.inf))
        shapes = [priors[cat], *(templates or {}).get(cat, [])]
        if mode == "trajectory" and boxes is not None and g in boxes:
            labels.update(_box_labels(boxes[g], members, crops, Ts, handle))
        elif mode == "trajectory":
            pts = fuse_group(crops, Ts, per_frame_points, rng, 1.1 * hi, up_world if use_up else None)
            fit, factor, shape = _best_fit(shapes, pts, up_world if use_up else None, inlier_threshold, max_points,
                                           rng, cat, (lo, hi))
            if fit.success and not 0.6 * lo <= fit.scale <= 1.6 * hi:
                log.warning("group %d (%s): fused fit of scale %.3f m outside the %s range [%.3f, %.3f]",
                            g, dataset.group_keys[g], fit.scale, cat, lo, hi)
                continue
            if not fit.success:
                log.warning("group %d (%s): no fused fit: %s", g, dataset.group_keys[g], fit.failure_reason)
                continue
            R_w, t_w, scale, ext, ext_ok = _boxed(fit, pts, shape, cat)
            if ext_ok and handle.active and use_up:
                R_w, t_w, ext = face_fused_handle(R_w, t_w, ext, pts, up_world, crops, Ts)
                scale = float(np.linalg.norm(ext))
            cam = [_to_camera(R_w, t_w, T) for T in Ts]
            seen = [handle(c, R, t, ext if ext_ok else None) for c, (R, t) in zip(crops, cam)]
            if handle.active and not any(seen):  # the trajectory never saw the handle: yaw and box are unknown
                R_w, t_w, scale, ext_ok = fit.rotation, fit.translation, float(fit.scale), False
                cam = [_to_camera(R_w, t_w, T) for T in Ts]
            for i, (R, t), h in zip(members, cam, seen):
                labels[i] = PseudoLabel(scale, R, t, float(fit.inlier_ratio) * factor, ext, ext_ok, h)
        else:
            pick = np.linspace(0, len(members) - 1, min(max_frames_per_group, len(members))).round().astype(int)
            for k in sorted(set(pick.tolist())):
                c, T = crops[k], Ts[k]
                up = T[:3, :3].T @ up_world if use_up else None
                pts = core_points(c.depth, c.mask, c.K, 1.1 * hi, up=up) if np.isfinite(hi) else \
                    crop_points(c.depth, c.mask, c.K)
                fit, factor, shape = _best_fit(shapes, pts, up, inlier_threshold, max_points, rng, cat, (lo, hi))
                if fit.success and 0.6 * lo <= fit.scale <= 1.6 * hi:
                    R, t, scale, ext, ext_ok = _boxed(fit, pts, shape, cat)
                    h = handle(c, R, t, ext if ext_ok else None)
                    if handle.active and not h:
                        R, t, scale, ext_ok = fit.rotation, fit.translation, float(fit.scale), False
                    labels[members[k]] = PseudoLabel(scale, R, t, float(fit.inlier_ratio) * factor, ext, ext_ok, h)
    return labels


def _box_labels(box: WorldBox, members: Sequence[int], crops: Sequence, Ts: Sequence[np.ndarray],
                handle: _HandleTest) -> dict[int, PseudoLabel]:
    """One group's labels from its fused world box; a mug whose handle no crop shows keeps its box's pose, with
    its extents marked unknown (the box is then its body's)."""
    cam = [_to_camera(box.R, box.centre, T) for T in Ts]
    seen = [handle(c, R, t, box.size) for c, (R, t) in zip(crops, cam)]
    valid = not handle.active or any(seen)
    scale = float(np.linalg.norm(box.size))
    return {i: PseudoLabel(scale, R, t, box.quality, box.size.copy(), valid, h)
            for i, (R, t), h in zip(members, cam, seen)}


def labels_to_arrays(labels: Mapping[int, PseudoLabel], size: int) -> dict[str, np.ndarray]:
    """Dense arrays over dataset indices: valid, scale, R, t, quality, extents, extents_valid, handle_visible."""
    out = {"valid": np.zeros(size, bool), "scale": np.ones(size, np.float32),
           "R": np.tile(np.eye(3, dtype=np.float32), (size, 1, 1)), "t": np.zeros((size, 3), np.float32),
           "quality": np.zeros(size, np.float32), "extents": np.full((size, 3), np.nan, np.float32),
           "extents_valid": np.zeros(size, bool), "handle_visible": np.ones(size, bool)}
    for i, lab in labels.items():
        out["valid"][i] = True
        out["scale"][i] = lab.scale
        out["R"][i] = lab.R
        out["t"][i] = lab.t
        out["quality"][i] = lab.quality
        out["extents"][i] = lab.extents
        out["extents_valid"][i] = lab.extents_valid
        out["handle_visible"][i] = lab.handle_visible
    return out
