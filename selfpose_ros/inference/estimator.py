"""The estimator interface the pose_estimator node drives (the factory that picks a back-end: backends.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Instance
from selfpose_ros.geometry.surface_reach import ReachOptions
from selfpose_ros.geometry.upright import snap_upright, tilt_deg
from selfpose_ros.pose_types import ObjectPoseEstimate


@dataclass
class InstanceResult:
    """The outcome for one instance: an estimate, or the reason there is none."""

    instance: Instance
    estimate: ObjectPoseEstimate | None
    failure: str | None = None


#: The most pixels a mask may be grown by (``SolverOptions.mask_reach_px``).
MAX_MASK_REACH_PX = 32


@dataclass
class SolverOptions:
    """Options every back-end honours (filled from the node's parameters)."""

    min_inliers: int = 30
    ransac_iterations: int = 200
    inlier_threshold: float = 0.01
    icp: bool = True
    device: str = "cpu"
    #: with a known gravity direction (RGBDFrame.up), fits within this tilt of upright are snapped upright; 0: off
    upright_snap_deg: float = 30.0
    #: search the frame's support plane: the up hint when frame.up is None, and table points dropped from instances
    support_plane: bool = True
    #: each object's depth surface grows up to this many pixels beyond its mask, so that an eroded mask loses no
    #: edge of the object (``geometry.surface_reach``); 0: the masks bound the surfaces
    mask_reach_px: int = 4

    def __post_init__(self) -> None:
        if not 0 <= self.mask_reach_px <= MAX_MASK_REACH_PX:
            raise ValueError(f"mask_reach_px must be in [0, {MAX_MASK_REACH_PX}] pixels, got {self.mask_reach_px}")

    def reach(self) -> ReachOptions:
        """How far the object surfaces reach beyond their masks (``geometry.surface_reach``)."""
        return ReachOptions(reach_px=self.mask_reach_px)


def snap_if_upright(R: np.ndarray, up: np.ndarray | None, max_tilt_deg: float) -> np.ndarray:
    """R with the tilt removed when ``up`` is known and canonical +Y is within ``max_tilt_deg`` of it."""
    if up is None or max_tilt_deg <= 0 or tilt_deg(R, up) > max_tilt_deg:
        return R
    return snap_upright(R, up)


class Estimator(Protocol):
    """Turns one frame's instances into pose estimates, all instances of a frame in one call."""

    name: str

    def estimate(self, frame: RGBDFrame, instances: Sequence[Instance]) -> list[InstanceResult]:
        """Return one result per instance, in order."""
        ...


def resolve_device(device: str) -> str:
    """Return 'cpu' or 'cuda:N' for a requested device ('auto' picks CUDA when available)."""
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device
