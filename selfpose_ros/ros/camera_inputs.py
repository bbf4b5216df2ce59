"""Synchronised RGB + depth + segmentation + camera_info -> checked RGBDFrame, like happypose's CameraWrapper.

Every check failure becomes a throttled warning that names the problem; nothing raises into rclpy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from selfpose_ros.inference.frame import FrameError, RGBDFrame, check_frame, depth_to_metres
from selfpose_ros.inference.stage_timer import StageTimer
from selfpose_ros.ros.approx_sync import stamp_to_ns
from selfpose_ros.ros.image_conversion import ImageConversionError, image_to_numpy
from selfpose_ros.ros.sync_subscribers import SyncedSubscribers
from selfpose_ros.ros.throttled_warnings import ThrottledWarnings

COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")
LABEL_ENCODINGS = ("16UC1", "32SC1", "mono16", "8UC1", "mono8")
__all__ = ["COLOUR_ENCODINGS", "LABEL_ENCODINGS", "CameraInputs", "ThrottledWarnings", "frame_from_messages"]


def frame_from_messages(rgb: Image, depth: Image, seg: Image, info: CameraInfo) -> RGBDFrame:
    """Return the checked RGBDFrame of one synchronised set of messages; raise FrameError naming the problem."""
    frames = {rgb.header.frame_id, depth.header.frame_id, seg.header.frame_id}
    if len(frames) != 1:
        raise FrameError(f"colour, depth and segmentation are in different frames {sorted(frames)}")
    if rgb.encoding not in COLOUR_ENCODINGS:
        raise FrameError(f"colour encoding {rgb.encoding!r} is not one of {COLOUR_ENCODINGS}")
    if seg.encoding not in LABEL_ENCODINGS:
        raise FrameError(f"segmentation encoding {seg.encoding!r} is not one of {LABEL_ENCODINGS}")
    if (info.width, info.height) != (rgb.width, rgb.height) and info.width and info.height:
        raise FrameError(f"camera_info is {info.width}x{info.height} but colour is {rgb.width}x{rgb.height}")
    try:
        colour = image_to_numpy(rgb)
        depth_raw = image_to_numpy(depth)
        labels = image_to_numpy(seg)
    except ImageConversionError as exc:
        raise FrameError(str(exc)) from None
    if rgb.encoding in ("bgr8", "bgra8"):
        colour = colour[..., 2::-1]
    elif rgb.encoding == "rgba8":
        colour = colour[..., :3]
    frame = RGBDFrame(
        rgb=np.ascontiguousarray(colour),
        depth=depth_to_metres(depth_raw, depth.encoding),
        labels=labels,
        K=np.asarray(info.k, dtype=np.float64).reshape(3, 3),
        frame_id=rgb.header.frame_id,
        stamp_ns=stamp_to_ns(rgb.header.stamp),
    )
    check_frame(frame)
    return frame


class CameraInputs:
    """Subscribes to ``color/image_raw``, ``depth/image_raw``, ``segmentation``, ``color/camera_info``
    (relative, remappable), synchronises them and hands checked frames to ``on_frame``."""

    TOPICS = ("color/image_raw", "depth/image_raw", "segmentation", "color/camera_info")

    def __init__(self, node: Node, on_frame: Callable[[RGBDFrame], None], *, slop: float, queue_size: int,
                 warnings: ThrottledWarnings, timer: StageTimer | None = None) -> None:
        self._on_frame, self._warnings = on_frame, warnings
        self._timer = timer or StageTimer()
        types = (Image, Image, Image, CameraInfo)
        self.sync = SyncedSubscribers(node, list(zip(types, self.TOPICS)), qos_profile_sensor_data,
                                      queue_size, slop, self._on_set)
        self.received = 0
        self.rejected = 0

    def _on_set(self, rgb: Image, depth: Image, seg: Image, info: CameraInfo) -> None:
        self.received += 1
        try:
            with self._timer.time("convert"):
                frame = frame_from_messages(rgb, depth, seg, info)
        except FrameError as exc:
            self.rejected += 1
            self._warnings.warn("frame_rejected", f"frame rejected: {exc}")
            return
        self._on_frame(frame)
