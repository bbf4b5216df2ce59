"""The result type shared by every pose solver (RANSAC-Umeyama, PnP-RANSAC, ICP, prior-fit baseline)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PoseFit:
    """Outcome of fitting a similarity canonical -> camera (``x_cam = scale * R @ x_can + t``).

    On failure (``success`` False) ``scale``, ``rotation`` and ``translation`` are None: no pose is made up,
    and ``failure_reason`` says why. ``inlier_mask`` always has one entry per *input* correspondence
    (points dropped as NaN are False). ``confidence`` is the solver's confidence in [0, 1]; for RANSAC it is
    the probability that an all-inlier sample was drawn given the final inlier ratio.
    """

    success: bool
    scale: float | None
    rotation: np.ndarray | None  # (3, 3) proper rotation
    translation: np.ndarray | None  # (3,) metres
    inlier_mask: np.ndarray  # (N,) bool
    inlier_ratio: float  # inliers / usable (finite) correspondences
    confidence: float
    num_correspondences: int  # usable (finite) correspondences
    failure_reason: str | None = None
    iterations: int = 0
    extras: dict = field(default_factory=dict)

    @property
    def num_inliers(self) -> int:
        """Return the number of inliers."""
        return int(self.inlier_mask.sum())

    def matrix(self) -> np.ndarray:
        """Return the 4x4 homogeneous matrix ``[[s R, t], [0, 1]]``; raise ValueError on a failed fit."""
        if not self.success or self.rotation is None or self.translation is None or self.scale is None:
            raise ValueError(f"no pose: the fit failed ({self.failure_reason})")
        T = np.eye(4)
        T[:3, :3] = self.scale * self.rotation
        T[:3, 3] = self.translation
        return T


def failed_fit(reason: str, num_input: int, num_usable: int, iterations: int = 0,
               inlier_mask: np.ndarray | None = None, inlier_ratio: float = 0.0) -> PoseFit:
    """Return a failed :class:`PoseFit` with no pose and the given reason."""
    mask = np.zeros(num_input, dtype=bool) if inlier_mask is None else inlier_mask
    return PoseFit(success=False, scale=None, rotation=None, translation=None, inlier_mask=mask,
                   inlier_ratio=inlier_ratio, confidence=0.0, num_correspondences=num_usable,
                   failure_reason=reason, iterations=iterations)
