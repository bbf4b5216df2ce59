"""One synchronised RGB-D-segmentation frame, and the checks every frame passes before any work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from selfpose_ros.data.image_codec import (
    COLOUR_ENCODINGS,
    LABEL_ENCODINGS,
    ImageConversionError,
    image_to_numpy,
    to_rgb,
)


class FrameError(ValueError):
    """A frame cannot be processed; the message names the problem (logged as a throttled warning)."""


@dataclass
class RGBDFrame:
    """Pixels of one instant: ``rgb`` (H, W, 3) uint8, ``depth`` (H, W) float32 metres (NaN = no reading),
    ``labels`` (H, W) int panoptic labels, ``K`` (3, 3) intrinsics, and the image frame and stamp."""

    rgb: np.ndarray
    depth: np.ndarray
    labels: np.ndarray
    K: np.ndarray
    frame_id: str = ""
    stamp_ns: int = 0
    up: np.ndarray | None = None  # gravity-up unit vector in the camera frame, when TF knows it


def depth_to_metres(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Return depth in float32 metres with NaN for missing readings (0, NaN, inf) from 16UC1 mm or 32FC1 m."""
    if encoding in ("16UC1", "mono16"):
        metres = depth.astype(np.float32) * np.float32(1e-3)
        metres[depth == 0] = np.nan
        return metres
    if encoding == "32FC1":
        metres = np.array(depth, dtype=np.float32, copy=True)
        metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
        return metres
    raise FrameError(f"depth encoding {encoding!r} is not supported: use 16UC1 (millimetres) or 32FC1 (metres)")


def check_intrinsics(K: np.ndarray, width: int, height: int) -> None:
    """Raise FrameError unless K is a finite pinhole matrix with positive focal lengths."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise FrameError(f"camera_info K must be a 3x3 matrix, got shape {K.shape}")
    if not np.isfinite(K).all():
        raise FrameError("camera_info K must be finite, it holds NaN or inf")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise FrameError(f"camera_info K has non-positive focal lengths fx={K[0, 0]}, fy={K[1, 1]}")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0 or abs(K[0, 1]) > 1e-6 * K[0, 0]:
        raise FrameError("camera_info K is not an upper-triangular pinhole matrix with last row [0 0 1]")


def check_frame(frame: RGBDFrame) -> None:
    """Raise FrameError unless the frame's images agree in size and type and K is valid."""
    rgb, depth, labels = frame.rgb, frame.depth, frame.labels
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise FrameError(f"colour image must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        raise FrameError("colour image is empty")
    for name, img in (("depth", depth), ("segmentation", labels)):
        if img.shape != (h, w):
            raise FrameError(f"{name} image is {img.shape[1]}x{img.shape[0]} but colour is {w}x{h}")
    if depth.dtype != np.float32:
        raise FrameError(f"depth must be float32 metres after conversion, got {depth.dtype}")
    if labels.dtype.kind not in "iu":
        raise FrameError(f"segmentation must hold integer labels, got {labels.dtype}")
    check_intrinsics(frame.K, w, h)


def decode_images(rgb_msg: Any, depth_msg: Any, seg_msg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (rgb (H, W, 3) uint8, depth (H, W) float32 metres with NaN holes, labels (H, W) int) of three
    sensor_msgs/Image messages (rclpy or rosbags objects); raise FrameError naming the problem.

    Depth and segmentation must be registered to the colour camera: same frame_id (a leading '/' is ignored).
    """
    frames = {m.header.frame_id.lstrip("/") for m in (rgb_msg, depth_msg, seg_msg)}
    if len(frames) != 1:
        raise FrameError(f"colour, depth and segmentation are in different frames {sorted(frames)}: "
                         "depth and segmentation must be registered to the colour camera")
    if rgb_msg.encoding not in COLOUR_ENCODINGS:
        raise FrameError(f"colour encoding {rgb_msg.encoding!r} is not one of {COLOUR_ENCODINGS}")
    if seg_msg.encoding not in LABEL_ENCODINGS:
        raise FrameError(f"segmentation encoding {seg_msg.encoding!r} is not one of {LABEL_ENCODINGS}")
    try:
        rgb = to_rgb(image_to_numpy(rgb_msg), rgb_msg.encoding)
        depth = depth_to_metres(image_to_numpy(depth_msg), depth_msg.encoding)
        labels = image_to_numpy(seg_msg)
    except ImageConversionError as exc:
        raise FrameError(str(exc)) from None
    h, w = rgb.shape[:2]
    for name, img in (("depth", depth), ("segmentation", labels)):
        if img.shape[:2] != (h, w):
            raise FrameError(f"{name} image is {img.shape[1]}x{img.shape[0]} but colour is {w}x{h}")
    return np.ascontiguousarray(rgb), depth, labels
