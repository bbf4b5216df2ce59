"""The one in-memory form of an object's pose estimate, shared by the solver, simulator, evaluator and nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ObjectPoseEstimate:
    """Similarity canonical -> camera: ``x_cam = scale * R @ x_canonical + t`` (metres), plus metric size."""

    category: str
    instance: int
    R: np.ndarray  # (3, 3) rotation, canonical -> camera optical frame
    t: np.ndarray  # (3,) metres, in the camera optical frame
    scale: float  # metres per canonical unit
    size: np.ndarray  # (3,) metric extents along canonical x, y, z, metres
    confidence: float = 1.0
    inlier_ratio: float = 1.0
    num_correspondences: int = 0
    extras: dict = field(default_factory=dict)
    fused: bool = False  # the pose is a fit of a multi-view fused cloud (inference/fusion.py)
    fused_views: int = 0  # frames fused into the object's track (0: fusion off)
    view_span_deg: float = 0.0  # largest angle between the track's view directions, degrees

    def __post_init__(self) -> None:
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)
        self.size = np.asarray(self.size, dtype=np.float64).reshape(3)
        self.scale = float(self.scale)
        if not (np.isfinite(self.R).all() and np.isfinite(self.t).all() and np.isfinite(self.scale)):
            raise ValueError(f"{self.category}_{self.instance}: pose has non-finite values")

    @property
    def frame_name(self) -> str:
        """Return ``<category>_<instance>``, the TF child frame name without prefix."""
        return f"{self.category}_{self.instance}"
