"""Depth errors of real structured-light and ToF cameras, applied around ``DepthSensorModel``.

Before the sensor model (on the true depth): a per-sequence scale error and bias, low-frequency correlated
noise growing with z^2, and flying pixels (mixed depths between the fore- and background at a
discontinuity). After it (on the measured depth): projector occlusion shadows and ragged dropout along
depth edges, holes on dark, specular and transparent-looking surfaces, and a per-sequence depth-to-colour
registration offset. Every function is pure given its generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from selfpose_ros.sim.noise_fields import low_frequency_field, smooth_normal_field
from selfpose_ros.sim.realism import DepthArtefacts

#: Relative depth jump inside a 3x3 window that marks a depth discontinuity.
EDGE_JUMP = 0.03
_KERNEL3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class DepthCalibration:
    """Per-sequence calibration errors: depth scale and offset, and the depth-to-colour pixel offset."""

    scale: float = 1.0
    bias: float = 0.0  # metres
    shift: tuple[int, int] = (0, 0)  # (dx, dy): measured depth pixel (u, v) shows the colour pixel (u - dx, v - dy)


@dataclass(frozen=True)
class SurfaceCues:
    """What the shader knows about the surface seen by each pixel, for material-dependent dropout."""

    darkness: np.ndarray  # (H, W) float32 in [0, 1]: 1 for the darkest surfaces
    specular: np.ndarray  # (H, W) float32 in [0, 1]: strength of the specular highlight
    transparent: np.ndarray  # (H, W) bool: transparent-looking material


def draw_calibration(config: DepthArtefacts, rng: np.random.Generator) -> DepthCalibration:
    """Draw a sequence's calibration errors (Gaussian scale and bias, offset uniform in a disc of radius px)."""
    scale = 1.0 + config.scale_error * float(rng.standard_normal())
    bias = config.bias * float(rng.standard_normal())
    r, a = config.registration_px * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
    return DepthCalibration(scale, bias, (int(np.rint(r * np.cos(a))), int(np.rint(r * np.sin(a)))))


def discontinuities(depth: np.ndarray, jump: float = EDGE_JUMP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edge mask, 3x3 nearest depth, 3x3 farthest depth) of a depth map with 0 = no surface."""
    far = cv2.dilate(depth, _KERNEL3)
    near = cv2.erode(np.where(depth > 0, depth, np.float32(1e3)), _KERNEL3)
    edges = (depth > 0) & (far - near > jump * np.maximum(depth, 1e-3))
    return edges, near, far


def flying_pixels(depth: np.ndarray, probability: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Replace a share of the pixels at depth discontinuities by a mixed depth; return (depth, mask of changed)."""
    edges, near, far = discontinuities(depth)
    idx = np.flatnonzero(edges & (far - near < 50.0))
    idx = idx[rng.random(idx.size, dtype=np.float32) < probability]  # draws only for edge pixels
    t = rng.uniform(0.1, 0.9, size=idx.size).astype(np.float32)
    out = depth.copy()
    lo, hi = near.ravel()[idx], far.ravel()[idx]
    out.ravel()[idx] = lo + t * (hi - lo)
    picked = np.zeros(depth.shape, bool)
    picked.ravel()[idx] = True
    return out, picked


def before_sensor(
    depth: np.ndarray, config: DepthArtefacts, calib: DepthCalibration, rng: np.random.Generator
) -> np.ndarray:
    """Scale error and bias, correlated noise and flying pixels on the true depth (H, W; 0 = no surface)."""
    surface = depth > 0
    out = depth.astype(np.float32, copy=True)
    if calib.scale != 1.0 or calib.bias != 0.0:
        out = np.where(surface, out * np.float32(calib.scale) + np.float32(calib.bias), np.float32(0.0))
    if config.correlated_noise > 0:
        field = low_frequency_field(rng, depth.shape, config.correlated_cells)
        out = np.where(surface, out + np.float32(config.correlated_noise) * out * out * field, np.float32(0.0))
    if config.flying_pixels > 0:
        out, _ = flying_pixels(out, config.flying_pixels, rng)
    return np.maximum(out, np.float32(0.0))


def projector_shadow(depth: np.ndarray, focal_px: float, baseline: float) -> np.ndarray:
    """Pixels (H, W) bool that the projector, ``baseline`` metres to the camera's right, cannot light.

    A pixel at column x with disparity d = f b / z is lit through projector column x - d; it is in shadow when
    a pixel further right lands on the same or a smaller projector column (it is nearer and hides it).
    """
    h, w = depth.shape
    disparity = np.where(
        depth > 0, np.float32(focal_px * baseline) / np.maximum(depth, np.float32(1e-3)), np.float32(0.0)
    )
    proj = np.arange(w, dtype=np.float32)[None, :] - disparity
    # Minimum projector column over the pixels strictly to the right of each pixel.
    right_min = np.minimum.accumulate(proj[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([right_min[:, 1:], np.full((h, 1), np.inf, np.float32)], axis=1)
    return (depth > 0) & (right_min < proj - 0.5)


def edge_band(depth: np.ndarray, width: int) -> np.ndarray:
    """Pixels (H, W) bool within ``width`` pixels of a depth discontinuity."""
    edges, _, _ = discontinuities(depth)
    k = 2 * int(width) + 1
    return cv2.dilate(edges.view(np.uint8), np.ones((k, k), np.uint8)).view(bool)


def normal_quantile(p: np.ndarray | float) -> np.ndarray:
    """Threshold on a standard-normal field below which a pixel falls with probability ``p`` (logistic approx.)."""
    p = np.clip(np.asarray(p, np.float32), np.float32(1e-6), np.float32(1 - 1e-6))
    return np.log(p / (1 - p)) / np.float32(1.702)


def material_holes(cues: SurfaceCues, config: DepthArtefacts, rng: np.random.Generator) -> np.ndarray:
    """Blobby dropout (H, W) bool on dark, specular and transparent-looking surfaces.

    A pixel with loss probability p is lost where a smooth standard-normal field (6 px features) lies below
    its p-quantile, so the holes come in blobs while each pixel is lost with its own probability. Only the
    candidate pixels (dark, highlighted or transparent) are evaluated.
    """
    lost = np.zeros(cues.darkness.shape, bool)
    candidates = (cues.darkness > np.float32(0.3)) | (cues.specular > np.float32(0.3)) | cues.transparent
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return lost
    dark, spec = cues.darkness.ravel()[idx], cues.specular.ravel()[idx]
    p = np.float32(config.dark_holes) * np.clip((dark - np.float32(0.3)) / np.float32(0.7), 0.0, 1.0)
    p = np.maximum(p, np.float32(config.specular_holes) * np.clip(spec * 2.0 - 0.6, 0.0, 1.0))
    p = np.where(cues.transparent.ravel()[idx], np.maximum(p, np.float32(config.transparent_holes)), p)
    field = smooth_normal_field(rng, lost.shape, 6.0)
    lost.ravel()[idx] = (p > 0) & (field.ravel()[idx] < normal_quantile(p))
    return lost


def shift_image(image: np.ndarray, shift: tuple[int, int], fill: float) -> np.ndarray:
    """``out[v, u] = image[v - dy, u - dx]``, ``fill`` where that falls outside the image."""
    dx, dy = shift
    h, w = image.shape[:2]
    out = np.full_like(image, fill)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def after_sensor(
    measured: np.ndarray,
    true_depth: np.ndarray,
    cues: SurfaceCues | None,
    config: DepthArtefacts,
    calib: DepthCalibration,
    focal_px: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Shadows, edge and material dropout (NaN) and the registration shift of the measured depth (NaN = none)."""
    lost = np.zeros(measured.shape, bool)
    if config.shadow_baseline > 0:
        lost |= projector_shadow(true_depth, focal_px, config.shadow_baseline)
    if config.edge_band > 0 and config.edge_band_dropout > 0:
        ragged = smooth_normal_field(rng, measured.shape, 3.0) < normal_quantile(config.edge_band_dropout)
        lost |= edge_band(true_depth, config.edge_band) & ragged
    if cues is not None and (config.dark_holes or config.specular_holes or config.transparent_holes):
        lost |= material_holes(cues, config, rng)
    out = np.where(lost, np.float32(np.nan), measured).astype(np.float32)
    if calib.shift != (0, 0):
        out = shift_image(out, calib.shift, np.nan)
    return out
