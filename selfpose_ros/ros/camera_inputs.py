"""Synchronised RGB + depth + segmentation + camera_info -> checked RGBDFrame, like happypose's CameraWrapper.

Every check failure becomes a throttled warning that names the problem; nothing raises into rclpy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from selfpose_ros.data.frame import FrameError, RGBDFrame, check_frame, decode_images
from selfpose_ros.data.stamps import stamp_to_ns
from selfpose_ros.data.topics import CAMERA_TOPICS
from selfpose_ros.inference.stage_timer import StageTimer
from selfpose_ros.ros.sync_subscribers import SyncedSubscribers, incompatible_qos_warning
from selfpose_ros.ros.throttled_warnings import ThrottledWarnings

#: image_qos -> subscription QoS. Reliable readers get lost fragments of large images resent; best-effort readers
#: lose a whole image whenever one of its ~64 KB fragments is dropped (docs/pose_estimator.md, "QoS and transport").
INPUT_QOS = {
    "reliable": QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE),
    "sensor_data": qos_profile_sensor_data,
}



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
                 warnings: ThrottledWarnings, timer: StageTimer | None = None, qos: str = "reliable") -> None:
        self._node, self._on_frame, self._warnings = node, on_frame, warnings
        self._timer = timer or StageTimer()
        self.qos = qos
        types = (Image, Image, Image, CameraInfo)
        self.sync = SyncedSubscribers(node, list(zip(types, self.TOPICS)), INPUT_QOS[qos], queue_size, slop,
                                      self._on_set, on_incompatible_qos=self._on_incompatible_qos)
        self.received = 0
        self.rejected = 0

    def _on_incompatible_qos(self, topic: str) -> None:
        self._warnings.warn("incompatible_qos", incompatible_qos_warning(topic, self.qos))

    def input_problems(self) -> list[str]:
        """Why no synchronised set may arrive: inputs without publishers, publishers our QoS cannot match."""
        problems = []
        for topic in self.TOPICS:
            publishers = self._node.get_publishers_info_by_topic(self._node.resolve_topic_name(topic))
            if not publishers:
                problems.append(f"{topic}: no publisher")
            elif self.qos == "reliable" and any(
                    p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for p in publishers):
                problems.append(f"{topic}: a best-effort publisher, image_qos is 'reliable' "
                                "(set image_qos:=sensor_data)")
        return problems

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
