"""The TF of a recording, for lookups at image stamps (``selfpose predict --fuse`` takes camera poses from it)."""

from __future__ import annotations

from pathlib import Path

from rosbags.rosbag2 import Reader

from selfpose_ros.data.bag_reader import BagTopics, read_side_topics
from selfpose_ros.data.tf_buffer import TfBuffer


def read_bag_tf(bag: Path, topics: BagTopics | None = None) -> TfBuffer:
    """Every /tf and /tf_static transform of ``bag`` (or its pose topic) in a TfBuffer; raise ValueError if none."""
    topics = topics or BagTopics()
    with Reader(bag) as reader:
        side = read_side_topics(reader, topics, supervised=False, tf_tolerance_ns=0, require_tf=True)
    if topics.pose_topic is not None:
        raise ValueError("camera poses from a pose topic are not supported here: record /tf")
    if not side.tf.frames:
        raise ValueError(f"bag {bag} has no transforms on {topics.tf} / {topics.tf_static}")
    return side.tf
