"""Collects a pose pipeline's outputs over DDS: predictions and ground truth as evaluation records,
overlay images as PNG files, and every received message into a short MCAP rosbag2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rclpy.node import Node
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from sensor_msgs.msg import Image

from selfpose_ros.data.image_codec import image_to_numpy
from selfpose_ros.data.stamps import ns_to_sec_nanosec, stamp_to_ns
from selfpose_ros.data.typestore import get_typestore
from selfpose_ros.eval.io_jsonl import ObjectRecord
from selfpose_ros.msg import ObjectPoseArray
from selfpose_ros.ros.pose_messages import from_object_pose


def to_records(msg: ObjectPoseArray, ground_truth: bool) -> list[ObjectRecord]:
    """Return evaluation records of an ObjectPoseArray (for ground truth, confidence carries visibility)."""
    frame = ns_to_sec_nanosec(stamp_to_ns(msg.header.stamp))
    out = []
    for obj in msg.objects:
        e = from_object_pose(obj)
        out.append(ObjectRecord(frame=frame, category=e.category, instance=e.instance,
                                score=1.0 if ground_truth else float(e.confidence), R=e.R, t=e.t, size=e.size,
                                visibility=float(e.confidence) if ground_truth else None))
    return out


class OutputRecorder:
    """Subscribes to ``<ns>/objects``, ``<ns>/ground_truth/objects`` and ``<ns>/debug_image`` (and, with
    ``per_frame``, to ``<ns>/objects_per_frame``: the back-end's own estimates when the node fuses views)."""

    def __init__(self, node: Node, namespace: str, out_dir: Path, max_images: int = 8, per_frame: bool = False
                 ) -> None:
        self.out_dir = out_dir
        self.max_images = max_images
        self.predictions: dict[int, ObjectPoseArray] = {}
        self.per_frame: dict[int, ObjectPoseArray] = {}
        self.ground_truth: dict[int, ObjectPoseArray] = {}
        self.images_saved: list[Path] = []
        self._log: list[tuple[str, str, int, bytes]] = []
        ns = namespace.rstrip("/")
        node.create_subscription(ObjectPoseArray, f"{ns}/objects", self._on_pred, 50)
        node.create_subscription(ObjectPoseArray, f"{ns}/ground_truth/objects", self._on_gt, 200)
        node.create_subscription(Image, f"{ns}/debug_image", self._on_image, 5)
        self._topics = {"pred": f"{ns}/objects", "gt": f"{ns}/ground_truth/objects", "img": f"{ns}/debug_image",
                        "single": f"{ns}/objects_per_frame"}
        if per_frame:
            node.create_subscription(ObjectPoseArray, self._topics["single"], self._on_per_frame, 50)

    def _keep(self, key: str, typename: str, msg: Any) -> None:
        self._log.append((self._topics[key], typename, stamp_to_ns(msg.header.stamp), serialize_message(msg)))

    def _on_pred(self, msg: ObjectPoseArray) -> None:
        self.predictions[stamp_to_ns(msg.header.stamp)] = msg
        self._keep("pred", "selfpose_ros/msg/ObjectPoseArray", msg)

    def _on_per_frame(self, msg: ObjectPoseArray) -> None:
        self.per_frame[stamp_to_ns(msg.header.stamp)] = msg
        self._keep("single", "selfpose_ros/msg/ObjectPoseArray", msg)

    def _on_gt(self, msg: ObjectPoseArray) -> None:
        self.ground_truth[stamp_to_ns(msg.header.stamp)] = msg
        self._keep("gt", "selfpose_ros/msg/ObjectPoseArray", msg)

    def _on_image(self, msg: Image) -> None:
        if len(self.images_saved) >= self.max_images:
            return
        self._keep("img", "sensor_msgs/msg/Image", msg)
        path = self.out_dir / f"overlay_{len(self.images_saved):02d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image_to_numpy(msg)), cv2.COLOR_RGB2BGR))
        self.images_saved.append(path)

    def evaluated_frames(self) -> list[int]:
        """Return stamps that have both a prediction and ground truth."""
        return sorted(set(self.predictions) & set(self.ground_truth))

    def records(self) -> tuple[list[ObjectRecord], list[ObjectRecord]]:
        """Return (predictions, ground truth) records over the frames that have both."""
        preds, gts = [], []
        for stamp in self.evaluated_frames():
            preds += to_records(self.predictions[stamp], ground_truth=False)
            gts += to_records(self.ground_truth[stamp], ground_truth=True)
        return preds, gts

    def compared_records(self) -> tuple[list[ObjectRecord], list[ObjectRecord], list[ObjectRecord]]:
        """(fused, per-frame, ground truth) records over the frames that have all three."""
        fused, single, gts = [], [], []
        for stamp in sorted(set(self.predictions) & set(self.per_frame) & set(self.ground_truth)):
            fused += to_records(self.predictions[stamp], ground_truth=False)
            single += to_records(self.per_frame[stamp], ground_truth=False)
            gts += to_records(self.ground_truth[stamp], ground_truth=True)
        return fused, single, gts

    def write_bag(self, path: Path) -> int:
        """Write every kept message into a new MCAP rosbag2 at ``path``; return the message count."""
        store = get_typestore()
        with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            conns = {}
            for topic, typename, stamp, raw in sorted(self._log, key=lambda m: m[2]):
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, typename, typestore=store)
                writer.write(conns[topic], stamp, raw)
        return len(self._log)
