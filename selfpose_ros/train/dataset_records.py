"""In-memory records of the training set: frames, per-instance crops, trajectory segments and groups."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from selfpose_ros.data.bag_reader import GroundTruth


@dataclass
class FrameRecord:
    """One synchronised frame: its bag, trajectory segment, position in the segment, stamp and camera pose."""

    bag: int
    stamp_ns: int
    frame_id: str
    T_map_cam: np.ndarray  # (4, 4) float64: optical frame -> world frame
    segment: int = -1
    index: int = -1  # frame index within the segment, in stamp order


@dataclass
class CropRecord:
    """One instance seen in one frame, with its decoded crops (kept in memory)."""

    frame: int  # index into the dataset's frame list
    label: int
    category: str
    instance: int
    rgb: np.ndarray  # (S, S, 3) uint8
    depth: np.ndarray  # (S, S) float32 metres, 0 = no reading
    mask: np.ndarray  # (S, S) bool
    K: np.ndarray  # (3, 3) float64 crop intrinsics
    pixels: int  # mask pixels in the full image
    median_depth: float  # metres over the mask's valid depth; NaN when none is valid
    ground_truth: GroundTruth | None = None
    visibility: float = float("nan")


#: A camera step between consecutive frames beyond these (metres, degrees) starts a new trajectory segment: the
#: camera did not move smoothly from one view to the next (frames were lost, or the robot went elsewhere).
MAX_STEP_M, MAX_STEP_DEG = 0.3, 45.0


def camera_step(T_a: np.ndarray, T_b: np.ndarray) -> tuple[float, float]:
    """(metres, degrees) the camera moved between two poses (4, 4) optical frame -> world."""
    cos = (float(np.trace(T_a[:3, :3].T @ T_b[:3, :3])) - 1.0) / 2.0
    return float(np.linalg.norm(T_b[:3, 3] - T_a[:3, 3])), float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def assign_segments(frames: list[FrameRecord], gap_ns: int, max_step_m: float = MAX_STEP_M,
                    max_step_deg: float = MAX_STEP_DEG) -> None:
    """Split each bag's frames (sorted by stamp) into segments at time gaps larger than ``gap_ns`` and at camera
    steps larger than ``max_step_m`` or ``max_step_deg`` between consecutive frames (a jump, not a trajectory)."""
    by_bag: dict[int, list[FrameRecord]] = defaultdict(list)
    for f in frames:
        by_bag[f.bag].append(f)
    for bag_frames in by_bag.values():
        bag_frames.sort(key=lambda f: f.stamp_ns)
        segment, index, previous = 0, 0, None
        for f in bag_frames:
            if previous is not None:
                metres, degrees = camera_step(previous.T_map_cam, f.T_map_cam)
                if f.stamp_ns - previous.stamp_ns > gap_ns or metres > max_step_m or degrees > max_step_deg:
                    segment, index = segment + 1, 0
            f.segment, f.index = segment, index
            index, previous = index + 1, f


def group_key(frame: FrameRecord, crop: CropRecord) -> tuple[int, int, int]:
    """(bag, segment, label): one trajectory of one instance."""
    return frame.bag, frame.segment, crop.label


def build_groups(frames: list[FrameRecord], crops: list[CropRecord]) -> dict[tuple[int, int, int], list[int]]:
    """Crop indices per (bag, segment, label), each list sorted by frame index."""
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for i, c in enumerate(crops):
        groups[group_key(frames[c.frame], c)].append(i)
    return {k: sorted(v, key=lambda i: frames[crops[i].frame].index) for k, v in sorted(groups.items())}


def estimate_visibility(crops: list[CropRecord], groups: dict[tuple[int, int, int], list[int]]) -> None:
    """Visibility proxy: apparent metric area (pixels x median depth^2) over the group's largest; NaN w/o depth.

    Occlusion and truncation shrink the apparent area; so does an object's own viewpoint-dependent
    silhouette, so this is an estimate, not a measured visible fraction.
    """
    for members in groups.values():
        area = np.array([crops[i].pixels * crops[i].median_depth ** 2 for i in members])
        best = np.nanmax(area) if np.isfinite(area).any() else np.nan
        for i, a in zip(members, area):
            crops[i].visibility = float(a / best) if np.isfinite(a) and best > 0 else float("nan")
