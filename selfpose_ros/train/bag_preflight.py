"""Is a recorded bag worth a long training run? Checked before the run starts, one line per problem.

Four checks, from the bag's index (message counts) and a few segmentation images: enough keyframes
(``/trajectory/keyframe`` messages of the trajectory_recorder, else colour images), camera poses (``/tf``
messages, or the recorder's ``/trajectory/camera_pose``), depth images, and at least one instance of a
trained category in the segmentation (panoptic labels decoded with the bag's own label category list, which
the recorder stores in its metadata). The ground-truth topic is never opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from selfpose_ros.conventions import LABEL_DIVISOR
from selfpose_ros.data.bag_reader import BagTopics, label_categories
from selfpose_ros.data.image_codec import image_to_numpy
from selfpose_ros.data.typestore import get_typestore

#: The recorder's keyframe and camera pose topics (selfpose_ros.recording.messages; repeated: same floor rule).
KEYFRAME_TOPIC = "/trajectory/keyframe"
POSE_TOPIC = "/trajectory/camera_pose"
#: Segmentation images decoded per bag to find a known category.
SAMPLED_SEGMENTATIONS = 8


def _counts(reader: Reader) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in reader.connections:
        out[c.topic] = out.get(c.topic, 0) + int(c.msgcount)
    return out


def _known_instance(reader: Reader, topic: str, cats: Sequence[str], wanted: Sequence[str]) -> set[str]:
    """Categories of ``wanted`` seen in up to SAMPLED_SEGMENTATIONS evenly spaced segmentation images."""
    conns = [c for c in reader.connections if c.topic == topic]
    total = sum(c.msgcount for c in conns)
    if not total:
        return set()
    picks = set(np.linspace(0, total - 1, min(total, SAMPLED_SEGMENTATIONS)).round().astype(int).tolist())
    store, seen = get_typestore(), set()
    for k, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
        if k not in picks:
            continue
        labels = image_to_numpy(store.deserialize_cdr(raw, conn.msgtype)).astype(np.int64)
        for cls in np.unique(labels // LABEL_DIVISOR):
            if 1 <= cls <= len(cats) and cats[cls - 1] in wanted:
                seen.add(cats[cls - 1])
        if k >= max(picks):
            break
    return seen


def frame_count(bag: Path, topics: BagTopics | None = None) -> int:
    """Keyframes of a recorder bag (``/trajectory/keyframe``), else its colour images, from the bag's index."""
    topics = topics or BagTopics()
    with Reader(bag) as reader:
        counts = _counts(reader)
    return counts.get(KEYFRAME_TOPIC, counts.get(topics.full(topics.rgb), 0))


def preflight_problems(bag: Path, categories: Sequence[str], min_keyframes: int,
                       topics: BagTopics | None = None) -> list[str]:
    """One line per reason ``bag`` cannot train ``categories``; [] when it can."""
    topics = topics or BagTopics()
    with Reader(bag) as reader:
        counts = _counts(reader)
        problems = []
        frames = counts.get(KEYFRAME_TOPIC, counts.get(topics.full(topics.rgb), 0))
        what = "keyframes" if KEYFRAME_TOPIC in counts else f"colour images ({topics.full(topics.rgb)})"
        if frames < max(min_keyframes, 2):
            problems.append(f"only {frames} {what}, need >= {max(min_keyframes, 2)} (data.min_keyframes): record "
                            f"a longer trajectory or lower the recorder's min_translation/min_rotation_deg")
        if not counts.get(topics.tf) and not counts.get(POSE_TOPIC):
            problems.append(f"no TF ({topics.tf} is absent or empty): camera poses come from TF; check the "
                            f"recorder's fixed_frame and that the robot publishes TF")
        if not counts.get(topics.full(topics.depth)):
            problems.append(f"no depth ({topics.full(topics.depth)} is absent or empty)")
        seg = topics.full(topics.segmentation)
        if not counts.get(seg):
            problems.append(f"no segmentation ({seg} is absent or empty)")
        else:
            cats = label_categories(reader, None)
            if not _known_instance(reader, seg, cats, categories):
                problems.append(f"no instance of a trained category {list(categories)} in {seg} (label "
                                f"categories of the bag: {list(cats)})")
    return [f"bag {bag}: {p}" for p in problems]


def bag_categories(bags: Sequence[Path]) -> list[str]:
    """The label categories the bags' metadata names (the recorder's ``categories``), first bag's order first."""
    out: list[str] = []
    for bag in bags:
        with Reader(bag) as reader:
            custom = getattr(reader.storage.metadata, "custom", None) or {}
            if not custom:
                continue
            out += [c for c in label_categories(reader, None) if c not in out]
    return out
