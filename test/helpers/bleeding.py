"""Synthetic bleeding masks for tests: an instance mask dilated onto a background pushed behind the object."""

from __future__ import annotations

import cv2
import numpy as np


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` (H, W) bool dilated by ``px`` pixels (a disc)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def bleed(
    labels: np.ndarray, depth: np.ndarray, label: int, px: int = 10, behind_m: float | None = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and depth where instance ``label``'s mask is dilated by ``px`` onto pixels of no other instance.

    With ``behind_m``, the depth of the added ring is the depth of the nearest object pixel plus ``behind_m``
    (a background that far behind the object's edge); otherwise the ring keeps its own depth (the real
    table or wall). Returns new (labels, depth); the inputs are not changed.
    """
    own = labels == label
    ring = dilate(own, px) & (labels == 0)
    out_labels = labels.copy()
    out_labels[ring] = label
    out_depth = depth.copy()
    if behind_m is not None:
        # nearest object pixel of every ring pixel (distance transform with labels of the object's pixels)
        _, nearest = cv2.distanceTransformWithLabels(
            (~own).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
        )
        ys, xs = np.nonzero(own)
        obj_depth = np.zeros(int(nearest.max()) + 1, np.float32)
        obj_depth[nearest[ys, xs]] = np.where(np.isfinite(depth[ys, xs]), depth[ys, xs], np.nan)
        src = obj_depth[nearest[ring]]
        fallback = float(np.nanmedian(depth[own]))
        out_depth[ring] = np.where(np.isfinite(src) & (src > 0), src, fallback) + behind_m
    return out_labels, out_depth
