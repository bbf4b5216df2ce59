"""Per-instance tracking and SE(3) smoothing across frames, with outlier rejection.

Association: an estimate joins the live track of its category with the same segmentation instance id
when that track is within ``gate`` metres, otherwise the nearest live track of its category within
``gate``; otherwise it starts a new track. Smoothing: translation and log-scale are blended
exponentially, rotation along the geodesic (R <- R exp(alpha log(R^T R_new))). For rotation-symmetric
categories (continuous about +Y) the new rotation is first replaced by its symmetric twin closest to the
track, so the arbitrary spin about +Y does not leak into the smoothed pose. A jump beyond
``max_jump_m`` / ``max_jump_deg`` is an outlier and is ignored, unless ``reinit_after`` outliers arrive in
a row, which means the object really moved: the track then restarts from the new estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial.transform import Rotation

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.pose_types import ObjectPoseEstimate


@dataclass
class TrackerConfig:
    """Tracking and smoothing settings."""

    enabled: bool = True
    alpha: float = 0.5  # weight of the new estimate, in (0, 1]; 1 = no smoothing
    gate: float = 0.10  # association distance, metres
    max_jump_m: float = 0.05
    max_jump_deg: float = 30.0
    reinit_after: int = 3
    max_age_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if min(self.gate, self.max_jump_m, self.max_jump_deg, self.max_age_s) <= 0 or self.reinit_after < 1:
            raise ValueError("gate, max_jump_m, max_jump_deg, max_age_s must be > 0 and reinit_after >= 1")


@dataclass
class Track:
    """One tracked object."""

    track_id: int
    estimate: ObjectPoseEstimate  # the smoothed pose
    last_seen_ns: int
    hits: int = 1
    outliers: int = 0
    pending: list = field(default_factory=list)

    @property
    def name(self) -> str:
        """Return the track's public id, e.g. 'mug_1#4'."""
        return f"{self.estimate.frame_name}#{self.track_id}"


def align_symmetric(category: str, R_ref: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Return the rotation equivalent to ``R`` under the category's symmetry that is closest to ``R_ref``."""
    if SYMMETRY.get(category) != "continuous_y":
        return R
    # R' = R @ Ry(theta); choose theta maximising trace(R_ref^T R Ry(theta)).
    M = R_ref.T @ R
    theta = np.arctan2(M[2, 0] - M[0, 2], M[0, 0] + M[2, 2])
    c, s = np.cos(theta), np.sin(theta)
    Ry = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return R @ Ry


def rotation_distance_deg(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Return the geodesic angle between two rotations, in degrees."""
    cos = np.clip((np.trace(R_a.T @ R_b) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)))


def blend(old: ObjectPoseEstimate, new: ObjectPoseEstimate, alpha: float) -> ObjectPoseEstimate:
    """Return ``old`` moved a fraction ``alpha`` towards ``new`` on SE(3) x log-scale (new's metadata)."""
    R_new = align_symmetric(new.category, old.R, new.R)
    delta = Rotation.from_matrix(old.R.T @ R_new).as_rotvec()
    R = old.R @ Rotation.from_rotvec(alpha * delta).as_matrix()
    t = old.t + alpha * (new.t - old.t)
    log_s = np.log(old.scale) + alpha * (np.log(new.scale) - np.log(old.scale))
    size = old.size + alpha * (new.size - old.size)
    return replace(new, R=R, t=t, scale=float(np.exp(log_s)), size=size)


class PoseTracker:
    """Associates each frame's estimates with tracks and returns smoothed estimates with track ids."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, estimates: list[ObjectPoseEstimate], stamp_ns: int) -> list[tuple[ObjectPoseEstimate, str]]:
        """Return ``(smoothed estimate, track id)`` per input estimate, in input order."""
        cfg = self.config
        self.tracks = [t for t in self.tracks if (stamp_ns - t.last_seen_ns) * 1e-9 <= cfg.max_age_s]
        if not cfg.enabled:
            return [(e, e.frame_name) for e in estimates]
        free = list(self.tracks)
        out = []
        for est in estimates:
            track = self._associate(est, free)
            if track is None:
                track = Track(self._next_id, est, stamp_ns)
                self._next_id += 1
                self.tracks.append(track)
            else:
                free.remove(track)
                self._update_track(track, est, stamp_ns)
            out.append((track.estimate, track.name))
        return out

    def _associate(self, est: ObjectPoseEstimate, free: list[Track]) -> Track | None:
        same_cat = [t for t in free if t.estimate.category == est.category]
        dist = {id(t): float(np.linalg.norm(t.estimate.t - est.t)) for t in same_cat}
        same_id = [t for t in same_cat if t.estimate.instance == est.instance and dist[id(t)] <= self.config.gate]
        if same_id:
            return same_id[0]
        near = [t for t in same_cat if dist[id(t)] <= self.config.gate]
        return min(near, key=lambda t: dist[id(t)]) if near else None

    def _update_track(self, track: Track, est: ObjectPoseEstimate, stamp_ns: int) -> None:
        cfg, old = self.config, track.estimate
        jump_m = float(np.linalg.norm(est.t - old.t))
        jump_deg = rotation_distance_deg(old.R, align_symmetric(est.category, old.R, est.R))
        track.last_seen_ns = stamp_ns
        if jump_m > cfg.max_jump_m or jump_deg > cfg.max_jump_deg:
            track.outliers += 1
            track.pending.append(est)
            if track.outliers >= cfg.reinit_after:  # consistent new pose: the object moved
                track.estimate, track.outliers, track.pending = est, 0, []
            return
        track.outliers, track.pending = 0, []
        track.hits += 1
        track.estimate = blend(old, est, cfg.alpha)
