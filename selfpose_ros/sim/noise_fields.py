"""Seeded random fields for the realism effects: smooth normal fields (blobs, ragged runs) and low-frequency noise."""

from __future__ import annotations

import cv2
import numpy as np


def smooth_normal_field(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """A stationary, approximately standard-normal field (H, W) float32 with features about ``scale_px`` wide.

    White noise is drawn at half resolution, blurred with a Gaussian, divided by the kernel's own gain (so the
    std stays 1) and upsampled bilinearly: three cheap OpenCV calls instead of a full-resolution blur.
    """
    h, w = shape
    hh, ww = max(2, (h + 1) // 2), max(2, (w + 1) // 2)
    white = rng.standard_normal((hh, ww), dtype=np.float32)
    sigma = max(0.5, 0.25 * float(scale_px))  # half-resolution pixels: a feature of scale_px is ~4 sigma wide
    k = cv2.getGaussianKernel(int(2 * np.ceil(3 * sigma) + 1), sigma).astype(np.float64).ravel()
    gain = float(np.sum(k**2))  # std of the blurred field = sqrt(sum of squared 2-D weights) = sum(k^2)
    field = cv2.sepFilter2D(white, cv2.CV_32F, k, k, borderType=cv2.BORDER_REFLECT) / np.float32(gain)
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)


def low_frequency_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """A smooth field (H, W) float32 of about unit std varying over ``cells`` cells across the width."""
    h, w = shape
    cw = max(2, int(cells))
    ch = max(2, int(round(cw * h / max(w, 1))))
    coarse = rng.standard_normal((ch + 2, cw + 2), dtype=np.float32)
    full = cv2.resize(coarse, (w + 2 * w // cw, h + 2 * h // ch), interpolation=cv2.INTER_CUBIC)
    oy, ox = h // ch, w // cw
    return np.ascontiguousarray(full[oy : oy + h, ox : ox + w])
