"""Pinhole camera model of the simulator: intrinsics, camera_info matrices, pixel rays and projection."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    """Ideal pinhole camera (plumb_bob, zero distortion). Pixel (u, v) has its centre at coordinates (u, v)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width < 2 or self.height < 2:
            raise ValueError(f"image size must be at least 2x2, got {self.width}x{self.height}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = 69.0) -> PinholeCamera:
        """Square-pixel camera with the given horizontal field of view and a centred principal point."""
        if not 10.0 <= hfov_deg <= 150.0:
            raise ValueError(f"horizontal field of view must be in [10, 150] degrees, got {hfov_deg}")
        f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2)
        return cls(width, height, float(f), float(f), (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def P(self) -> np.ndarray:
        """3x4 projection matrix of camera_info (no stereo baseline)."""
        return np.concatenate([self.K, np.zeros((3, 1))], axis=1)

    @property
    def D(self) -> np.ndarray:
        """plumb_bob distortion coefficients (all zero)."""
        return np.zeros(5)

    @cached_property
    def rays(self) -> np.ndarray:
        """(H*W, 3) float32 ray directions in the optical frame with z = 1, row-major over (v, u)."""
        u = (np.arange(self.width, dtype=np.float64) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float64) - self.cy) / self.fy
        uu, vv = np.meshgrid(u, v)
        return np.stack([uu, vv, np.ones_like(uu)], axis=-1).reshape(-1, 3).astype(np.float32)

    @cached_property
    def ray_norms(self) -> np.ndarray:
        """(H, W) float32 length of each z = 1 ray (depth -> range factor)."""
        return np.linalg.norm(self.rays, axis=1).reshape(self.height, self.width)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project optical-frame points (..., 3) to pixel coordinates (..., 2); z must be positive."""
        points = np.asarray(points, dtype=float)
        if points.shape[-1] != 3:
            raise ValueError(f"points must have a last dimension of 3, got {points.shape}")
        z = points[..., 2]
        return np.stack([self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy], axis=-1)

    def backproject(self, depth: np.ndarray) -> np.ndarray:
        """Lift a depth image (H, W) in metres to optical-frame points (H, W, 3)."""
        if depth.shape != (self.height, self.width):
            raise ValueError(f"depth shape {depth.shape} does not match camera {self.height}x{self.width}")
        return self.rays.reshape(self.height, self.width, 3) * depth[..., None]
