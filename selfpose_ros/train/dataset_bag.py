"""Reading a rosbag2 recording (MCAP or sqlite3) for training: topics, decoding, TF, stamp-synchronised frames.

Self-supervised reading never requests the ground-truth connection: ``read_side_topics`` only asks the
reader for it when ``supervised`` is true, and ``iter_synced_frames`` only asks for the three image topics.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from rosbags.rosbag2 import Reader

from selfpose_ros.bags.typestore import OBJECT_POSE_ARRAY, get_typestore
from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np
from selfpose_ros.inference.frame import check_intrinsics, depth_to_metres
from selfpose_ros.train.tf_interp import TfBuffer

#: Bag metadata (custom_data) key that overrides the label category list: comma-separated or a JSON list.
LABEL_CATEGORIES_KEY = "selfpose_ros.label_categories"

#: numpy dtype and channel count of the image encodings the reader accepts.
_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4), "mono8": ("u1", 1),
    "8UC1": ("u1", 1), "16UC1": ("u2", 1), "mono16": ("u2", 1), "32SC1": ("i4", 1), "32FC1": ("f4", 1),
    "16SC1": ("i2", 1),
}


@dataclass(frozen=True)
class BagTopics:
    """Topic names: relative ones are joined to ``prefix``, absolute ones (leading '/') are used as given."""

    prefix: str = "/camera"
    rgb: str = "color/image_raw"
    depth: str = "depth/image_raw"
    segmentation: str = "segmentation"
    camera_info: str = "color/camera_info"
    tf: str = "/tf"
    tf_static: str = "/tf_static"
    ground_truth: str = "/ground_truth/objects"
    pose_topic: str | None = None  #: geometry_msgs/PoseStamped camera poses instead of /tf (then /tf is not read)
    pose_child_frame: str | None = None  #: frame the PoseStamped poses; default: the images' frame_id
    world_frame: str = "map"  #: T_map_cam is looked up from this frame

    def full(self, name: str) -> str:
        """Resolve one topic name against the prefix."""
        if name.startswith("/"):
            return name
        return "/" + "/".join(p for p in (self.prefix.strip("/"), name.strip("/")) if p)


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


def stamp_of(header) -> int:
    """Header stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def image_to_array(msg) -> np.ndarray:
    """Pixels of a sensor_msgs/Image (rosbags object) as (H, W) or (H, W, C), honouring step and endianness."""
    if msg.encoding not in _ENCODINGS:
        raise ValueError(f"image encoding {msg.encoding!r} is not supported; use one of {sorted(_ENCODINGS)}")
    kind, channels = _ENCODINGS[msg.encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * channels * dtype.itemsize
    data = np.asarray(msg.data, dtype=np.uint8)
    if h == 0 or w == 0 or step < row or data.size < h * step:
        raise ValueError(f"{msg.encoding} image {w}x{h} with step {step} does not fit its {data.size} data bytes")
    rows = data[: h * step].reshape(h, step)[:, :row]
    pixels = np.ascontiguousarray(rows).view(dtype).reshape((h, w, channels) if channels > 1 else (h, w))
    return pixels.astype(dtype.newbyteorder("="), copy=False)


def to_rgb(image: np.ndarray, encoding: str) -> np.ndarray:
    """Colour pixels as (H, W, 3) uint8 RGB from rgb8 / bgr8 / rgba8 / bgra8 / mono8."""
    if encoding == "rgb8":
        return image
    if encoding == "bgr8":
        return np.ascontiguousarray(image[..., ::-1])
    if encoding in ("rgba8", "bgra8"):
        rgb = image[..., :3]
        return np.ascontiguousarray(rgb if encoding == "rgba8" else rgb[..., ::-1])
    if encoding == "mono8":
        return np.repeat(image[..., None], 3, axis=2)
    raise ValueError(f"colour image encoding {encoding!r} is not supported (rgb8, bgr8, rgba8, bgra8, mono8)")


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
        out[key] = GroundTruth(float(obj.scale), R, np.array([p.x, p.y, p.z]), frame, float(obj.confidence))
    return out


def read_side_topics(reader: Reader, topics: BagTopics, supervised: bool, tf_tolerance_ns: int) -> SideData:
    """First pass: TF (or the pose topic), camera_info and, only if ``supervised``, the ground truth."""
    store = get_typestore()
    tf = TfBuffer(tolerance_ns=tf_tolerance_ns)
    want = {}
    for conn in connections_by_topic(reader, topics.full(topics.camera_info), "sensor_msgs/msg/CameraInfo", True):
        want[conn.id] = "info"
    for conn in connections_by_topic(reader, topics.tf_static, "tf2_msgs/msg/TFMessage", False):
        want[conn.id] = "tf_static"
    if topics.pose_topic is None:
        for conn in connections_by_topic(reader, topics.tf, "tf2_msgs/msg/TFMessage", True):
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
            infos.append((stamp_of(msg.header), K, int(msg.width), int(msg.height)))
        elif kind in ("tf", "tf_static"):
            tf.add_tf_message(msg, static=kind == "tf_static")
        elif kind == "pose":
            poses.append(msg)
        else:
            gt.setdefault(stamp_of(msg.header), {}).update(_ground_truth_entries(msg))
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
        stamp = stamp_of(msg.header)
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
    rgb_msg, depth_msg, seg_msg = parts["rgb"], parts["depth"], parts["segmentation"]
    frame_id = rgb_msg.header.frame_id.lstrip("/")
    for name, msg in (("depth", depth_msg), ("segmentation", seg_msg)):
        if msg.header.frame_id.lstrip("/") != frame_id:
            raise ValueError(f"{name} image is in frame {msg.header.frame_id!r} but colour is in {frame_id!r}: "
                             "depth and segmentation must be registered to the colour camera")
    rgb = to_rgb(image_to_array(rgb_msg), rgb_msg.encoding)
    depth = depth_to_metres(image_to_array(depth_msg), depth_msg.encoding)
    labels = image_to_array(seg_msg)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ValueError(f"segmentation must be a one-channel integer image, got encoding {seg_msg.encoding!r}")
    if depth.shape != rgb.shape[:2] or labels.shape != rgb.shape[:2]:
        raise ValueError(f"image sizes differ at stamp {stamp}: colour {rgb.shape[:2]}, depth {depth.shape}, "
                         f"segmentation {labels.shape}")
    return SyncedFrame(stamp, frame_id, rgb, depth, labels)
