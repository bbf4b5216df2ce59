"""One world-frame track of multi-view fusion: its fused cloud, the view directions it has seen, its pose.

A track lives in the fusion frame (a frame static relative to the objects: ``map``, ``odom``...). Its cloud
is the object's points of every view, voxel-downsampled and bounded (:class:`VoxelCloud`); its view
directions are unit vectors from the object to each camera, kept when at least 2 degrees from every kept
one (at most 256, whatever the number of frames); a direction ``coverage_step_deg`` away from the
directions that already added coverage adds coverage itself (and triggers a full refit). Its pose is a similarity
canonical -> fusion frame: the latest single-view estimate until the first fit of the fused cloud, then
the fused fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.geometry.handle_azimuth import voted_direction
from selfpose_ros.geometry.voxel_cloud import VoxelCloud

#: View directions closer than this to a kept one are not kept (the span is measured to this resolution).
SPAN_STEP_DEG = 2.0
#: The most view directions a track keeps (a trajectory's directions 2 deg apart: 90 per half turn).
MAX_VIEW_DIRECTIONS = 256
#: Single-view estimates a track remembers (their canonical +X) to break near-ties of its fits.
MAX_VOTES = 64
#: Support planes a track keeps (the most recent views'); their median is the one the fused size stands on.
MAX_SUPPORTS = 15
#: Consecutive views whose points lie away from the fused fit before a track counts its object as moved.
MISFIT_VIEWS = 2


@dataclass
class FusionConfig:
    """Multi-view fusion settings (the node's ``fusion_*`` parameters; docs/pose_estimator.md)."""

    frame: str = ""  #: fusion frame, static relative to the objects; empty: fusion off
    voxel_size: float = 0.004  #: metres: edge of the voxels the fused cloud is downsampled to
    max_points: int = 3000  #: voxels per track at most (the grid coarsens beyond)
    refit_period: int = 5  #: frames between seeded refits of a track whose cloud changed
    motion_threshold: float = 0.02  #: metres: depth contradicting the fused cloud by more means the object moved
    coverage_step_deg: float = 15.0  #: a view this far from all earlier ones adds coverage: full refit
    gate: float = 0.10  #: metres: association distance between an estimate and a track, in the fusion frame
    max_age_s: float = 30.0  #: a track unseen this long is dropped (static objects: the camera may look away)
    full_span_deg: float = 90.0  #: the view span at which a fused estimate's confidence stops growing
    moved_fraction: float = 0.3  #: share of checked fused points seen through above which the object moved
    upright_snap_deg: float = 30.0  #: as the back-ends: fused fits this close to upright are snapped upright

    @property
    def enabled(self) -> bool:
        """True when a fusion frame is set."""
        return bool(self.frame)

    def __post_init__(self) -> None:
        errors = []
        for name in ("voxel_size", "motion_threshold", "coverage_step_deg", "gate", "max_age_s", "full_span_deg"):
            if not getattr(self, name) > 0:
                errors.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_points < 100:
            errors.append(f"max_points must be >= 100, got {self.max_points}")
        if self.refit_period < 1:
            errors.append(f"refit_period must be >= 1 frame, got {self.refit_period}")
        if not 0.0 < self.moved_fraction < 1.0:
            errors.append(f"moved_fraction must be in (0, 1), got {self.moved_fraction}")
        if errors:
            raise ValueError("invalid fusion settings: " + "; ".join(errors))


def track_bytes_bound(max_points: int) -> int:
    """The most bytes a track holds (``FusedTrack.nbytes``): 40 per voxel (key, sums, count), two view-direction
    arrays and the single-view votes (float64 unit vectors)."""
    return 40 * int(max_points) + 24 * (2 * MAX_VIEW_DIRECTIONS + MAX_VOTES)


def view_span_deg(directions: np.ndarray) -> float:
    """The largest angle (degrees) between any two unit view directions (N, 3); 0 for fewer than two."""
    d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    if len(d) < 2:
        return 0.0
    return float(np.degrees(np.arccos(np.clip((d @ d.T).min(), -1.0, 1.0))))


def span_confidence(fit_confidence: float, span_deg: float, full_span_deg: float) -> float:
    """A fused estimate's confidence: the fit's, scaled from 1/2 (one view) to 1 (``full_span_deg`` or more)."""
    return float(fit_confidence) * (0.5 + 0.5 * min(max(span_deg, 0.0), full_span_deg) / full_span_deg)


class DirectionSet:
    """Unit vectors (at most ``MAX_VIEW_DIRECTIONS``, in one preallocated array) kept ``min_deg`` apart."""

    def __init__(self, min_deg: float) -> None:
        self.min_cos = float(np.cos(np.radians(min_deg)))
        self._data = np.zeros((MAX_VIEW_DIRECTIONS, 3))
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def array(self) -> np.ndarray:
        """The kept directions (N, 3)."""
        return self._data[: self._n]

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated array."""
        return self._data.nbytes

    def add(self, d: np.ndarray) -> bool:
        """Keep the unit vector ``d`` when it is far enough from every kept one (and there is room)."""
        if self._n >= MAX_VIEW_DIRECTIONS or (self._n and float((self.array @ d).max()) >= self.min_cos):
            return False
        self._data[self._n] = d
        self._n += 1
        return True


@dataclass
class FusedTrack:
    """A world-frame track: category, fused cloud, view directions and the current pose in the fusion frame."""

    track_id: int
    category: str
    instance: int
    cloud: VoxelCloud
    scale: float
    R: np.ndarray  # (3, 3) canonical -> fusion frame
    t: np.ndarray  # (3,) metres, fusion frame
    last_seen_ns: int
    coverage_step_deg: float = 15.0
    directions: DirectionSet = field(init=False)  #: kept view directions (>= SPAN_STEP_DEG apart)
    coverage: DirectionSet = field(init=False)  #: directions that added coverage (>= coverage_step_deg apart)
    votes: np.ndarray = field(init=False)  #: canonical +X of the last MAX_VOTES single-view estimates (ring)
    _vote_count: int = field(init=False, default=0)
    views: int = 0  #: frames whose points went into the cloud
    fused: bool = False  #: the pose is a fit of the fused cloud (not a single view)
    fit_confidence: float = 0.0  #: inlier ratio of the last fused fit
    fit_residual: float = 0.0  #: metres: 75th percentile distance of the fused cloud to the fitted prior
    size: np.ndarray | None = None  #: (3,) metres: the fused fit's per-axis size (within the category's range)
    size_factor: float = 1.0  #: the size policy's confidence factor (below 1 when the size was clamped)
    box_centre: np.ndarray | None = None  #: (3,) the fused box's centre in the fusion frame (published position)
    frames_since_fit: int = 0
    resets: int = 0  #: times the track restarted because its object moved
    supports: list = field(default_factory=list)  #: the last MAX_SUPPORTS support planes (n, d) in the fusion frame
    misfit_views: int = 0  #: consecutive views lying away from the fused fit (MISFIT_VIEWS of them: moved)
    top_views: int = 0  #: views whose back-end saw the object's top (its measured height is then the height)
    #: (cloud points, scale, R, t) of the fit the size was last computed from, and the box pose (R, centre) it gave
    sized: tuple | None = None
    handle: np.ndarray | None = None  #: (3,) a mug's handle direction where the fused cloud last showed it
    handle_votes: list = field(default_factory=list)  #: +X of the last MAX_VOTES single views that found the handle

    def __post_init__(self) -> None:
        self.directions, self.coverage = DirectionSet(SPAN_STEP_DEG), DirectionSet(self.coverage_step_deg)
        self.votes, self._vote_count = np.zeros((MAX_VOTES, 3)), 0

    def add_vote(self, R_world: np.ndarray) -> None:
        """Remember a single-view estimate's canonical +X in the fusion frame (the oldest goes first)."""
        self.votes[self._vote_count % MAX_VOTES] = np.asarray(R_world)[:, 0]
        self._vote_count += 1

    def add_handle_vote(self, x_world: np.ndarray) -> None:
        """Remember the +X of a single view that found the handle (fusion frame; the oldest goes first)."""
        self.handle_votes = [*self.handle_votes[-(MAX_VOTES - 1):], np.asarray(x_world, np.float64)]

    def voted_handle(self, up: np.ndarray | None) -> np.ndarray | None:
        """The horizontal handle direction (3,) the single views' found handles agree on
        (``geometry.handle_azimuth.voted_direction``), else None."""
        return None if up is None else voted_direction(np.array(self.handle_votes), up)

    @property
    def recent_votes(self) -> np.ndarray:
        """The remembered single-view +X axes (K, 3)."""
        return self.votes[: min(self._vote_count, MAX_VOTES)]

    @property
    def name(self) -> str:
        """The track's public id, e.g. 'mug_1#4' (the tracker's format)."""
        return f"{self.category}_{self.instance}#{self.track_id}"

    @property
    def span_deg(self) -> float:
        """Angular span of the views seen so far, degrees."""
        return view_span_deg(self.directions.array)

    @property
    def nbytes(self) -> int:
        """Bytes held by the track's cloud and view directions."""
        return (self.cloud.nbytes + self.directions.nbytes + self.coverage.nbytes + self.votes.nbytes
                + 24 * len(self.handle_votes))

    def add_view(self, camera_centre: np.ndarray) -> bool:
        """Remember the direction object -> camera; return True when it adds coverage."""
        d = np.asarray(camera_centre, dtype=np.float64) - self.t
        n = float(np.linalg.norm(d))
        if n < 1e-6:
            return False
        self.directions.add(d / n)
        return self.coverage.add(d / n)

    def add_support(self, plane: np.ndarray) -> None:
        """Remember one view's support plane (n_x, n_y, n_z, d) in the fusion frame (the last MAX_SUPPORTS kept)."""
        self.supports = [*self.supports[-(MAX_SUPPORTS - 1):], np.asarray(plane, np.float64)]

    def support(self) -> np.ndarray | None:
        """The plane the object stands on: the views' median normal and offset, or None when no view had one."""
        if not self.supports:
            return None
        med = np.median(np.stack(self.supports), axis=0)
        norm = float(np.linalg.norm(med[:3]))
        return None if norm < 0.5 else np.append(med[:3] / norm, med[3] / norm)

    def restart(self, cloud: VoxelCloud, scale: float, R: np.ndarray, t: np.ndarray, stamp_ns: int) -> None:
        """Forget the cloud and the views (the object moved) and start again from a single-view pose."""
        self.cloud = cloud
        self.__post_init__()
        self.views, self.fused, self.fit_confidence, self.fit_residual = 0, False, 0.0, 0.0
        self.frames_since_fit, self.supports, self.misfit_views, self.top_views, self.sized = 0, [], 0, 0, None
        self.handle, self.handle_votes = None, []
        self.scale, self.R, self.t, self.last_seen_ns = float(scale), R, t, stamp_ns
        self.resets += 1
