"""Synchronised RGB + depth + segmentation + camera_info -> checked RGBDFrame, like happypose's CameraWrapper.

Every check failure becomes a throttled warning that names the problem; nothing raises into rclpy.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from selfpose_ros.data.frame import FrameError, RGBDFrame, check_frame, decode_images
from selfpose_ros.data.stamps import stamp_to_ns
from selfpose_ros.data.topics import CAMERA_TOPICS
from selfpose_ros.inference.stage_timer import StageTimer
from selfpose_ros.ros.sync_subscribers import SyncedSubscribers


class ThrottledWarnings:
    """Log each distinct warning at most once per ``period`` seconds, counting repeats."""

    def __init__(self, node: Node, period: float) -> None:
        self._node, self._period = node, period
        self._last: dict[str, float] = {}
        self.count = 0

    def warn(self, text: str) -> None:
        """Log ``text`` unless the same text was logged less than ``period`` seconds ago."""
        self.count += 1
        now = time.monotonic()
        if now - self._last.get(text, -1e18) >= self._period:
            self._last[text] = now
            self._node.get_logger().warning(text)


def frame_from_messages(rgb: Image, depth: Image, seg: Image, info: CameraInfo) -> RGBDFrame:
    """Return the checked RGBDFrame of one synchronised set of messages; raise FrameError naming the problem."""
    if (info.width, info.height) != (rgb.width, rgb.height) and info.width and info.height:
        raise FrameError(f"camera_info is {info.width}x{info.height} but colour is {rgb.width}x{rgb.height}")
    colour, depth_m, labels = decode_images(rgb, depth, seg)
    frame = RGBDFrame(
        rgb=colour,
        depth=depth_m,
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

    TOPICS = CAMERA_TOPICS

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
            self._warnings.warn(f"frame rejected: {exc}")
            return
        self._on_frame(frame)
