"""Debug overlay: instance masks tinted, each object's projected 3D box and canonical axes drawn with OpenCV."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from selfpose_ros.geometry.pinhole import project_np as project
from selfpose_ros.pose_types import ObjectPoseEstimate

#: One BGR-free RGB colour per category, shared by markers and the debug image.
CATEGORY_COLOURS: dict[str, tuple[int, int, int]] = {
    "bottle": (31, 119, 180),
    "bowl": (255, 127, 14),
    "camera": (44, 160, 44),
    "can": (214, 39, 40),
    "laptop": (148, 103, 189),
    "mug": (227, 119, 194),
}
_BOX_EDGES = [(0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def category_colour(category: str) -> tuple[int, int, int]:
    """Return the RGB colour of ``category`` (grey when unknown)."""
    return CATEGORY_COLOURS.get(category, (160, 160, 160))


def box_corners(size: np.ndarray) -> np.ndarray:
    """Return the 8 corners (8, 3) of a centred box with extents ``size``, in the object's metric frame."""
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    return 0.5 * signs * np.asarray(size, dtype=np.float64)


def draw_overlay(
    rgb: np.ndarray,
    K: np.ndarray,
    estimates: Sequence[ObjectPoseEstimate],
    masks: Sequence[np.ndarray] = (),
    mask_colours: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Return a copy of ``rgb`` with masks tinted (or per-pixel colours), boxes and axes of every estimate."""
    out = rgb.copy()
    for k, mask in enumerate(masks):
        if mask_colours is not None:
            out[mask] = (0.4 * out[mask] + 0.6 * mask_colours[k]).astype(np.uint8)
        else:
            tint = np.array(category_colour(estimates[k].category) if k < len(estimates) else (255, 255, 0))
            out[mask] = (0.6 * out[mask] + 0.4 * tint).astype(np.uint8)
    for est in estimates:
        corners = box_corners(est.size) @ est.R.T + est.t  # size is metric: rotate without scale
        uv = project(corners, K)
        colour = category_colour(est.category)
        for a, b in _BOX_EDGES:
            if np.isfinite(uv[[a, b]]).all():
                cv2.line(out, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)), colour, 2)
        axis_len = 0.5 * float(np.min(est.size))
        axes = np.vstack([np.zeros(3), np.eye(3) * axis_len]) @ est.R.T + est.t
        auv = project(axes, K)
        for i, c in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):  # x red, y green, z blue (RViz)
            if np.isfinite(auv[[0, i + 1]]).all():
                cv2.arrowedLine(out, tuple(np.round(auv[0]).astype(int)), tuple(np.round(auv[i + 1]).astype(int)),
                                c, 2, tipLength=0.15)
        if np.isfinite(uv).all():
            x0, y0 = np.min(uv, axis=0)
            cv2.putText(out, f"{est.frame_name} {est.confidence:.2f}", (int(x0), max(int(y0) - 4, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out
