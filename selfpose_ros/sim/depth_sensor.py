"""Depth sensor model: range limits, axial noise growing with z^2, disparity quantisation, holes.

Axial noise follows Nguyen, Izadi & Lovell (3DIMPVT 2012) for structured light:
``sigma(z, theta) = a + b (z - z0)^2 + c / sqrt(z) * theta^2 / (pi/2 - theta)^2`` (metres, theta = incidence angle).
Depth is then quantised in disparity space (``d = f b / z`` rounded to ``disparity_step`` pixels), as a
stereo / structured-light sensor does, so the step size grows with z^2 as well. Readings are dropped
beyond the range limits, at grazing incidence, near depth discontinuities and at random; a pixel is lost
with the largest of those loss probabilities (one uniform draw per pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DepthSensorModel:
    """Parameters of the simulated depth camera; ``ideal()`` gives one that only applies the range limits."""

    min_range: float = 0.2  # metres
    max_range: float = 6.0
    sigma_base: float = 0.0012  # a, metres
    sigma_quadratic: float = 0.0019  # b, metres per metre^2
    sigma_reference: float = 0.4  # z0, metres
    sigma_angle: float = 0.0001  # c, metres * sqrt(metre)
    baseline: float = 0.075  # metres, for disparity quantisation
    disparity_step: float = 0.125  # pixels; 0 disables quantisation
    max_incidence_deg: float = 80.0  # readings beyond this incidence angle are always lost
    grazing_start_deg: float = 65.0  # loss probability ramps from 0 here to 1 at max_incidence_deg
    edge_jump: float = 0.03  # relative depth jump in a 3x3 window that marks a discontinuity
    edge_dropout: float = 0.6  # probability of losing a pixel next to a discontinuity
    random_dropout: float = 0.002
    noise: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_range < self.max_range <= 65.0:
            raise ValueError(f"need 0 < min_range < max_range <= 65 m (16UC1 limit), got {self.min_range}, "
                             f"{self.max_range}")
        if not 0 < self.grazing_start_deg <= self.max_incidence_deg <= 90:
            raise ValueError("need 0 < grazing_start_deg <= max_incidence_deg <= 90")
        for name in ("edge_dropout", "random_dropout"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")

    @classmethod
    def ideal(cls, min_range: float = 0.01, max_range: float = 65.0) -> DepthSensorModel:
        """A noise-free sensor: exact depth inside the range limits, no holes, no quantisation."""
        return cls(min_range=min_range, max_range=max_range, disparity_step=0.0, max_incidence_deg=90.0,
                   grazing_start_deg=90.0, edge_dropout=0.0, random_dropout=0.0, noise=False)

    def sigma(self, z: np.ndarray, theta: np.ndarray | float = 0.0) -> np.ndarray:
        """Axial noise standard deviation (metres) at depth ``z`` and incidence angle ``theta`` (radians)."""
        z, theta = np.broadcast_arrays(np.asarray(z, dtype=np.float32), np.asarray(theta, dtype=np.float32))
        theta = np.asarray(np.minimum(theta, np.float32(np.deg2rad(89.0))))
        # c / sqrt(z) * theta^2 / (pi/2 - theta)^2 + a + b (z - z0)^2, evaluated in place in that order
        angle = np.asarray(np.maximum(z, 1e-3))
        np.sqrt(angle, out=angle)
        np.divide(self.sigma_angle, angle, out=angle)
        angle *= np.square(theta)
        rest = np.subtract(np.pi / 2, theta, out=theta)
        angle /= np.square(rest, out=rest)
        out = np.asarray(np.subtract(z, self.sigma_reference))
        np.square(out, out=out)
        out *= self.sigma_quadratic
        out += self.sigma_base
        out += angle
        return out

    def apply(self, depth: np.ndarray, cos_incidence: np.ndarray, focal_px: float,
              rng: np.random.Generator) -> np.ndarray:
        """Measured depth (H, W) float32 in metres with NaN for no reading, from true depth (0 = no surface)."""
        if depth.shape != cos_incidence.shape:
            raise ValueError(f"depth {depth.shape} and cos_incidence {cos_incidence.shape} differ in shape")
        z = depth.astype(np.float32)
        valid = (z >= self.min_range) & (z <= self.max_range)
        theta = np.arccos(np.clip(cos_incidence, 0.0, 1.0))
        # One uniform draw per pixel: a reading is lost with the largest of its loss probabilities.
        p_lost = np.full(z.shape, np.float32(self.random_dropout))
        if self.max_incidence_deg < 90.0:
            max_inc, start = np.deg2rad(self.max_incidence_deg), np.deg2rad(self.grazing_start_deg)
            ramp = np.subtract(theta, start)  # float64, as start is a numpy float64
            ramp /= max(max_inc - start, 1e-6)
            np.maximum(p_lost, np.clip(ramp, 0.0, 1.0, out=ramp), out=p_lost)
        if self.edge_dropout > 0:
            zz = np.where(z > 0, z, np.float32(0.0))
            kernel = np.ones((3, 3), np.uint8)
            jump = cv2.dilate(zz, kernel) - cv2.erode(np.where(z > 0, z, np.float32(1e3)), kernel)
            edges = jump > self.edge_jump * np.maximum(zz, 1e-3)
            np.maximum(p_lost, np.float32(self.edge_dropout), out=p_lost, where=edges)
        valid &= rng.random(z.shape, dtype=np.float32) >= p_lost
        out = z.copy()
        if self.noise:
            noise = rng.standard_normal(z.shape, dtype=np.float32)
            noise *= self.sigma(z, theta)
            out += noise
        if self.disparity_step > 0:
            fb = np.float32(focal_px * self.baseline)
            step = np.float32(self.disparity_step)
            disparity = np.maximum(out, np.float32(1e-3))  # fb / max(round(fb / z / step) * step, step), in place
            np.divide(fb, disparity, out=disparity)
            disparity /= step
            np.round(disparity, out=disparity)
            disparity *= step
            np.maximum(disparity, step, out=disparity)
            out = np.divide(fb, disparity, out=disparity)
        return np.where(valid, out, np.float32(np.nan)).astype(np.float32, copy=False)


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """16UC1 depth in millimetres (0 = no reading) from float metres with NaN for no reading."""
    mm = np.rint(np.nan_to_num(depth_m, nan=0.0, posinf=0.0, neginf=0.0) * 1000.0)
    if mm.size and mm.max() > 65535:
        raise ValueError("depth beyond 65.535 m does not fit 16UC1 millimetres")
    return np.clip(mm, 0, 65535).astype(np.uint16)
