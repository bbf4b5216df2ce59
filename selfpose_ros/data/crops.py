"""Square, undistorted instance crops with exactly adjusted intrinsics.

Pixel convention (OpenCV, as in selfpose_ros.model.camera): pixel (u, v) has its centre at coordinates
(u, v) and covers [u - 0.5, u + 0.5]. A crop window is a square of side ``side`` image pixels whose
top-left corner is at (x0, y0) in those coordinates; it is resampled to ``size`` x ``size`` crop pixels with
one scale factor ``s = size / side`` for both axes (no anisotropic scaling). A point at image coordinates
(u, v) lands at crop coordinates ``u_c = s (u - x0) - 0.5`` (and likewise v), so
``K_crop = A @ K`` with ``A = [[s, 0, -s x0 - 0.5], [0, s, -s y0 - 0.5], [0, 0, 1]]``
(a translation by the crop offset followed by the scaling, in the half-pixel-centre convention).
Parts of the window outside the image are zero (rgb), 0 (depth = no reading) and False (mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropWindow:
    """A square window of the image: top-left corner (x0, y0) in pixel-centre coordinates and side, in pixels."""

    x0: float
    y0: float
    side: float

    def affine(self, size: int) -> np.ndarray:
        """The 3x3 matrix A mapping homogeneous image pixel coordinates to crop pixel coordinates."""
        s = size / self.side
        return np.array([[s, 0.0, -s * self.x0 - 0.5], [0.0, s, -s * self.y0 - 0.5], [0.0, 0.0, 1.0]])


@dataclass
class InstanceCrop:
    """One instance's crop: rgb (S, S, 3) uint8, depth (S, S) float32 metres (0 = invalid), mask (S, S) bool,
    K (3, 3) crop intrinsics, and the window it was cut from."""

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    window: CropWindow


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of a boolean mask, x1/y1 exclusive; raise ValueError if it is empty."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if cols.size == 0:
        raise ValueError("mask is empty: no bounding box")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def square_window(box: tuple[int, int, int, int], padding: float) -> CropWindow:
    """Square window centred on a pixel box (x0, y0, x1, y1; x1/y1 exclusive), side = max(w, h) * (1 + padding)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        raise ValueError(f"box {box} is empty")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    side = max(w, h) * (1.0 + padding)
    # The box covers coordinates [x0 - 0.5, x1 - 0.5]; its centre is the mean of those edges.
    cx, cy = (x0 + x1) / 2.0 - 0.5, (y0 + y1) / 2.0 - 0.5
    return CropWindow(cx - side / 2.0, cy - side / 2.0, side)


def crop_intrinsics(K: np.ndarray, A: np.ndarray) -> np.ndarray:
    """K_crop = A @ K for intrinsics (..., 3, 3) and crop affines (..., 3, 3)."""
    return np.asarray(A, dtype=np.float64) @ np.asarray(K, dtype=np.float64)


def warp_to_crop(image: np.ndarray, A: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    """Resample ``image`` (H, W[, C]) into a (size, size[, C]) crop through affine ``A``; outside is 0."""
    return cv2.warpAffine(image, A[:2].astype(np.float64), (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_instance(rgb: np.ndarray, depth_m: np.ndarray, mask: np.ndarray, K: np.ndarray, size: int,
                  padding: float = 0.1, box: tuple[int, int, int, int] | None = None) -> InstanceCrop:
    """Cut the square crop of one instance: rgb bilinear, depth and mask nearest; depth NaN/inf/<=0 -> 0.

    ``box`` (x0, y0, x1, y1; exclusive ends) is the mask's bounding box when the caller already has it.
    """
    if size < 1:
        raise ValueError(f"crop size must be >= 1, got {size}")
    if rgb.shape[:2] != depth_m.shape or mask.shape != depth_m.shape:
        raise ValueError(f"rgb {rgb.shape}, depth {depth_m.shape} and mask {mask.shape} sizes differ")
    window = square_window(mask_box(mask) if box is None else box, padding)
    A = window.affine(size)
    depth = warp_to_crop(np.ascontiguousarray(depth_m, dtype=np.float32), A, size, cv2.INTER_NEAREST)
    depth[~(np.isfinite(depth) & (depth > 0))] = 0.0  # nearest sampling copies values, so clean after the warp
    return InstanceCrop(
        rgb=warp_to_crop(np.ascontiguousarray(rgb), A, size, cv2.INTER_LINEAR),
        depth=depth,
        mask=warp_to_crop(mask.astype(np.uint8), A, size, cv2.INTER_NEAREST).astype(bool),
        K=crop_intrinsics(K, A),
        window=window,
    )
