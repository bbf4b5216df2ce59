"""Reading a rosbag2 recording (MCAP or sqlite3) for training: topics, decoding, TF, stamp-synchronised frames.

Self-supervised reading never requests the ground-truth connection: ``read_side_topics`` only asks the
reader for it when ``supervised`` is true, and ``iter_synced_frames`` only asks for the three image topics.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.data.frame import RGBDFrame, check_intrinsics, decode_images
from selfpose_ros.data.stamps import header_stamp_ns
from selfpose_ros.data.tf_buffer import TfBuffer
from selfpose_ros.data.topics import CameraTopics
from selfpose_ros.data.typestore import OBJECT_POSE_ARRAY, get_typestore, typestore_for
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np

#: Bag metadata (custom_data) key that overrides the label category list: comma-separated or a JSON list.
LABEL_CATEGORIES_KEY = "selfpose_ros.label_categories"

@dataclass(frozen=True)
class BagTopics(CameraTopics):
    """The camera topics of a bag, plus where camera poses come from (TF, or a PoseStamped topic)."""

    pose_topic: str | None = None  #: geometry_msgs/PoseStamped camera poses instead of /tf (then /tf is not read)
    pose_child_frame: str | None = None  #: frame the PoseStamped poses; default: the images' frame_id
    world_frame: str = "map"  #: T_map_cam is looked up from this frame


@dataclass
class GroundTruth:
    """One object's labelled pose in the camera frame: scale s, rotation R (3, 3), translation t (3,).

    ``confidence`` is ObjectPose.confidence; the simulator stores the object's visible fraction there.
    """

    scale: float
    R: np.ndarray
    t: np.ndarray
    frame_id: str
    confidence: float
    size: np.ndarray | None = None  #: (3,) metric box extents (ObjectPose.size)


@dataclass
class SideData:
    """Everything except the images: TF, camera intrinsics by stamp, and (supervised only) ground truth."""

    tf: TfBuffer
    info_stamps: np.ndarray  # (N,) int64, sorted
    infos: list[tuple[np.ndarray, int, int]]  # (K, width, height) per stamp
    ground_truth: dict[int, dict[tuple[str, int], GroundTruth]] = field(default_factory=dict)
    poses: list = field(default_factory=list)  # PoseStamped messages, added to ``tf`` by ``attach_poses``
    _poses_attached: bool = False

    def attach_poses(self, image_frame: str, child: str | None) -> None:
        """Add the pose topic's samples as edge header.frame_id -> ``child`` (default: the image frame), once."""
        if not self._poses_attached:
            for msg in self.poses:
                self.tf.add_pose_stamped(msg, child or image_frame)
            self._poses_attached = True


@dataclass
class SyncedFrame:
    """One decoded frame: rgb (H, W, 3) uint8, depth (H, W) float32 metres (NaN = none), labels (H, W) int."""

    stamp_ns: int
    frame_id: str
    rgb: np.ndarray
    depth_m: np.ndarray
    labels: np.ndarray


def label_categories(reader: Reader, default: Sequence[str] | None) -> tuple[str, ...]:
    """Category list of the panoptic labels: the argument, else the bag's custom_data, else CATEGORIES."""
    if default is not None:
        return tuple(default)
    custom = getattr(reader.storage.metadata, "custom", None) or {}
    value = custom.get(LABEL_CATEGORIES_KEY)
    if value is None:
        return CATEGORIES
    names = json.loads(value) if value.strip().startswith("[") else [v.strip() for v in value.split(",")]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"bag metadata {LABEL_CATEGORIES_KEY}={value!r} is not a list of category names")
    return tuple(names)


def connections_by_topic(reader: Reader, topic: str, msgtype: str, required: bool):
    """The reader's connections on ``topic``; raise ValueError if required and absent or of another type."""
    conns = [c for c in reader.connections if c.topic == topic]
    if not conns:
        if required:
            raise ValueError(f"bag {reader.path} has no topic {topic!r}; topics: {sorted(reader.topics)}")
        return []
    wrong = {c.msgtype for c in conns} - {msgtype}
    if wrong:
        raise ValueError(f"topic {topic!r} in {reader.path} has type {sorted(wrong)}, expected {msgtype}")
    return conns


def _ground_truth_entries(msg) -> dict[tuple[str, int], GroundTruth]:
    out = {}
    for obj in msg.objects:
        p, o = obj.pose.position, obj.pose.orientation
        R = quaternion_to_matrix_np(np.array([o.x, o.y, o.z, o.w]))
        key = (str(obj.category), int(obj.instance_id))
        frame = obj.header.frame_id or msg.header.frame_id
        out[key] = GroundTruth(float(obj.scale), R, np.array([p.x, p.y, p.z]), frame, float(obj.confidence),
                               np.array([obj.size.x, obj.size.y, obj.size.z], dtype=np.float64))
    return out


def read_side_topics(reader: Reader, topics: BagTopics, supervised: bool, tf_tolerance_ns: int,
                     require_tf: bool = True) -> SideData:
    """First pass: TF (or the pose topic), camera_info and, only if ``supervised``, the ground truth.

    Without ``require_tf`` a bag with no /tf (a camera recorded alone) is read; its TF buffer stays empty.
    """
    store = typestore_for(reader)  # bags recorded with older ObjectPose read too
    tf = TfBuffer(tolerance_ns=tf_tolerance_ns)
    want = {}
    for conn in connections_by_topic(reader, topics.full(topics.camera_info), "sensor_msgs/msg/CameraInfo", True):
        want[conn.id] = "info"
    for conn in connections_by_topic(reader, topics.tf_static, "tf2_msgs/msg/TFMessage", False):
        want[conn.id] = "tf_static"
    if topics.pose_topic is None:
        for conn in connections_by_topic(reader, topics.tf, "tf2_msgs/msg/TFMessage", require_tf):
            want[conn.id] = "tf"
    else:
        for conn in connections_by_topic(reader, topics.full(topics.pose_topic), "geometry_msgs/msg/PoseStamped",
                                         True):
            want[conn.id] = "pose"
    if supervised:
        for conn in connections_by_topic(reader, topics.ground_truth, OBJECT_POSE_ARRAY, True):
            want[conn.id] = "gt"
    infos: list[tuple[int, np.ndarray, int, int]] = []
    gt: dict[int, dict[tuple[str, int], GroundTruth]] = {}
    poses = []
    conns = [c for c in reader.connections if c.id in want]
    for conn, _, raw in reader.messages(connections=conns):
        kind = want[conn.id]
        msg = store.deserialize_cdr(raw, conn.msgtype)
        if kind == "info":
            K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
            check_intrinsics(K, int(msg.width), int(msg.height))
            infos.append((header_stamp_ns(msg.header), K, int(msg.width), int(msg.height)))
        elif kind in ("tf", "tf_static"):
            tf.add_tf_message(msg, static=kind == "tf_static")
        elif kind == "pose":
            poses.append(msg)
        else:
            gt.setdefault(header_stamp_ns(msg.header), {}).update(_ground_truth_entries(msg))
    if not infos:
        raise ValueError(f"bag {reader.path} has no camera_info messages on {topics.full(topics.camera_info)!r}")
    infos.sort(key=lambda x: x[0])
    return SideData(tf, np.array([i[0] for i in infos], dtype=np.int64), [i[1:] for i in infos], gt, poses)


def nearest_info(side: SideData, stamp_ns: int, width: int, height: int) -> np.ndarray:
    """K of the camera_info nearest in time to ``stamp_ns`` (intrinsics are constant between messages)."""
    i = int(np.clip(np.searchsorted(side.info_stamps, stamp_ns), 0, len(side.info_stamps) - 1))
    if i > 0 and abs(side.info_stamps[i - 1] - stamp_ns) <= abs(side.info_stamps[i] - stamp_ns):
        i -= 1
    K, w, h = side.infos[i]
    if (w, h) != (width, height):
        raise ValueError(f"camera_info is for {w}x{h} images but the colour image is {width}x{height}")
    return K


def iter_synced_frames(reader: Reader, topics: BagTopics, sync_tolerance_ns: int = 0,
                       max_pending: int = 64, stats: dict | None = None) -> Iterator[SyncedFrame]:
    """Second pass: yield decoded frames whose colour, depth and segmentation header stamps agree."""
    store = get_typestore()
    kinds = {}
    for kind in ("rgb", "depth", "segmentation"):
        for conn in connections_by_topic(reader, topics.full(getattr(topics, kind)), "sensor_msgs/msg/Image", True):
            kinds[conn.id] = kind
    stats = {} if stats is None else stats
    pending: dict[int, dict[str, object]] = {}
    conns = [c for c in reader.connections if c.id in kinds]
    for conn, _, raw in reader.messages(connections=conns):
        kind = kinds[conn.id]
        msg = store.deserialize_cdr(raw, conn.msgtype)
        stamp = header_stamp_ns(msg.header)
        key = next((s for s in pending if abs(s - stamp) <= sync_tolerance_ns and kind not in pending[s]), stamp)
        parts = pending.setdefault(key, {})
        parts[kind] = msg
        if len(parts) == 3:
            del pending[key]
            yield _decode(parts, key)
        elif len(pending) > max_pending:
            oldest = min(pending)
            stats["incomplete_frames"] = stats.get("incomplete_frames", 0) + 1
            del pending[oldest]
    stats["incomplete_frames"] = stats.get("incomplete_frames", 0) + len(pending)


def _decode(parts: dict, stamp: int) -> SyncedFrame:
    rgb_msg = parts["rgb"]
    rgb, depth, labels = decode_images(rgb_msg, parts["depth"], parts["segmentation"])
    return SyncedFrame(stamp, rgb_msg.header.frame_id.lstrip("/"), rgb, depth, labels)


def read_rgbd_frames(bag: Path, topics: BagTopics, up_frame: str | None = None,
                     label_cats: Sequence[str] | None = None) -> Iterator[tuple[RGBDFrame, tuple[str, ...]]]:
    """Yield (RGBDFrame, label categories) for every synchronised frame of ``bag``; the ground truth is never read.

    With ``up_frame``, each frame's ``up`` is that TF frame's +Z in the camera frame at the image stamp (the bag
    must then have /tf); without it, /tf is optional and ``up`` stays None.
    """
    with Reader(bag) as reader:
        cats = label_categories(reader, label_cats)
        side = read_side_topics(reader, topics, supervised=False, tf_tolerance_ns=0, require_tf=up_frame is not None)
        for f in iter_synced_frames(reader, topics):
            K = nearest_info(side, f.stamp_ns, f.rgb.shape[1], f.rgb.shape[0])
            up = None
            if up_frame is not None:
                T = side.tf.lookup(up_frame, f.frame_id, f.stamp_ns)
                up = np.asarray(T[:3, :3]).T @ np.array([0.0, 0.0, 1.0])  # up_frame's +Z in the camera frame
            yield RGBDFrame(f.rgb, f.depth_m, f.labels, K, f.frame_id, f.stamp_ns, up), cats
