"""Ground truth from a rosbag2 (directory, .mcap or .db3 file) for the evaluator.

Reads topic ``/ground_truth/objects`` of type ``selfpose_ros/msg/ObjectPoseArray``. Each object becomes an
:class:`ObjectRecord` with ``frame`` = the array header's stamp (sec, nanosec), ``R`` from the xyzw
quaternion, ``t`` = position (metres), ``size`` = the size vector (metres), ``score`` 1. ObjectPose has no
visibility field: by convention the simulator publishes the visible fraction in ``confidence`` on the
ground-truth topic, so ``visibility`` = ``confidence`` (docs/evaluation.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from selfpose_ros.data.stamps import ns_to_sec_nanosec, stamp_to_ns
from selfpose_ros.data.typestore import typestore_for
from selfpose_ros.eval.io_jsonl import ObjectRecord
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np

GT_TOPIC = "/ground_truth/objects"
GT_TYPE = "selfpose_ros/msg/ObjectPoseArray"


def load_gt_from_bag(path: str | Path, topic: str = GT_TOPIC) -> list[ObjectRecord]:
    """Return the ground-truth records of ``topic`` in the bag at ``path``; raise ValueError on bad data."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    records: list[ObjectRecord] = []
    with Reader(path) as reader:
        store = typestore_for(reader)  # bags recorded with older ObjectPose definitions read too
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            topics = sorted({c.topic for c in reader.connections})
            raise ValueError(f"{path}: no topic {topic!r} in the bag (topics: {topics})")
        for conn in conns:
            if conn.msgtype != GT_TYPE:
                raise ValueError(f"{path}: topic {topic!r} has type {conn.msgtype}, expected {GT_TYPE}")
        for index, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            frame = ns_to_sec_nanosec(stamp_to_ns(msg.header.stamp))
            for k, obj in enumerate(msg.objects):
                records.append(_to_record(obj, frame, f"{path}: message {index}, object {k}"))
    return records


def _to_record(obj, frame: tuple[int, int], where: str) -> ObjectRecord:
    o = obj.pose.orientation
    q = np.array([o.x, o.y, o.z, o.w], dtype=np.float64)
    if not np.isfinite(q).all() or np.linalg.norm(q) < 1e-6:
        raise ValueError(f"{where}: orientation quaternion is zero or non-finite: {q.tolist()}")
    p = obj.pose.position
    t = np.array([p.x, p.y, p.z], dtype=np.float64)
    size = np.array([obj.size.x, obj.size.y, obj.size.z], dtype=np.float64)
    if not np.isfinite(t).all():
        raise ValueError(f"{where}: position is not finite: {t.tolist()}")
    if not (np.isfinite(size).all() and (size > 0).all()):
        raise ValueError(f"{where}: size must be positive metres, got {size.tolist()}")
    visibility = float(obj.confidence)
    if not 0.0 <= visibility <= 1.0:
        raise ValueError(f"{where}: confidence (= visibility on the ground-truth topic) must be in [0, 1], "
                         f"got {visibility}")
    return ObjectRecord(frame, str(obj.category), int(obj.instance_id), 1.0,
                        quaternion_to_matrix_np(q), t, size, visibility)
