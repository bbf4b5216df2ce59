"""Write a simulated sequence as a rosbag2 (MCAP storage, format version 9)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm

from selfpose_ros.data import topics as names
from selfpose_ros.data.topics import DEFAULT_CAMERA_NAMESPACE, resolve_topic
from selfpose_ros.data.typestore import OBJECT_POSE_ARRAY, get_typestore
from selfpose_ros.sim.messages import (
    DEPTH_M_ENCODING,
    DEPTH_MM_ENCODING,
    RGB_ENCODING,
    SEGMENTATION_ENCODING,
    MessageFactory,
)
from selfpose_ros.sim.simulator import SimScene
from selfpose_ros.sim.tf_tree import BASE_FRAME


@dataclass(frozen=True)
class SimTopics:
    """Topic names of a simulated bag (absolute; the camera topics under ``/camera``)."""

    rgb: str = resolve_topic(DEFAULT_CAMERA_NAMESPACE, names.RGB)
    depth: str = resolve_topic(DEFAULT_CAMERA_NAMESPACE, names.DEPTH)
    depth_m: str = resolve_topic(DEFAULT_CAMERA_NAMESPACE, names.DEPTH_METRES)
    segmentation: str = resolve_topic(DEFAULT_CAMERA_NAMESPACE, names.SEGMENTATION)
    camera_info: str = resolve_topic(DEFAULT_CAMERA_NAMESPACE, names.CAMERA_INFO)
    depth_camera_info: str = resolve_topic(DEFAULT_CAMERA_NAMESPACE, names.DEPTH_CAMERA_INFO)
    tf: str = names.TF
    tf_static: str = names.TF_STATIC
    ground_truth: str = names.GROUND_TRUTH


IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"

#: QoS a /tf_static publisher offers: reliable, transient local, keep last 1 (late joiners get the chain).
TF_STATIC_QOS = Qos(
    history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
    durability=QosDurability.TRANSIENT_LOCAL, deadline=QosTime(0, 0), lifespan=QosTime(0, 0),
    liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=QosTime(0, 0),
    avoid_ros_namespace_conventions=False,
)


def write_sim_bag(sim: SimScene, path: Path, *, depth_float: bool = False, progress: bool = True,
                  topics: SimTopics = SimTopics()) -> dict[str, int]:
    """Render every frame of ``sim`` into a new MCAP rosbag2 at ``path``; return message counts per topic."""
    path = Path(path)
    if path.exists():
        raise ValueError(f"bag path {path} already exists; rosbag2 writers never overwrite")
    store = get_typestore()
    make = MessageFactory(store)
    counts: dict[str, int] = {}
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {
            topics.rgb: writer.add_connection(topics.rgb, IMAGE, typestore=store),
            topics.depth: writer.add_connection(topics.depth, IMAGE, typestore=store),
            topics.segmentation: writer.add_connection(topics.segmentation, IMAGE, typestore=store),
            topics.camera_info: writer.add_connection(topics.camera_info, CAMERA_INFO, typestore=store),
            topics.depth_camera_info: writer.add_connection(topics.depth_camera_info, CAMERA_INFO, typestore=store),
            topics.tf: writer.add_connection(topics.tf, TF_MESSAGE, typestore=store),
            topics.tf_static: writer.add_connection(topics.tf_static, TF_MESSAGE, typestore=store,
                                                    offered_qos_profiles=[TF_STATIC_QOS]),
            topics.ground_truth: writer.add_connection(topics.ground_truth, OBJECT_POSE_ARRAY, typestore=store),
        }
        if depth_float:
            conns[topics.depth_m] = writer.add_connection(topics.depth_m, IMAGE, typestore=store)
        types = {c.topic: c.msgtype for c in conns.values()}

        def put(topic: str, msg: object, stamp_ns: int) -> None:
            writer.write(conns[topic], stamp_ns, store.serialize_cdr(msg, types[topic]))
            counts[topic] = counts.get(topic, 0) + 1

        start = sim.stamp_ns(0)
        put(topics.tf_static, make.tf_message(list(sim.static_transforms), start), start)
        frames = tqdm(sim.frames(), total=sim.num_frames, desc=f"sim {path.name}", unit="frame", disable=not progress)
        for frame in frames:
            stamp = frame.stamp_ns
            put(topics.tf, make.base_tf(frame, BASE_FRAME), stamp)
            put(topics.camera_info, make.camera_info(frame.camera, stamp), stamp)
            put(topics.depth_camera_info, make.camera_info(frame.camera, stamp), stamp)
            put(topics.rgb, make.image(frame.rgb, RGB_ENCODING, stamp), stamp)
            put(topics.depth, make.image(frame.depth_mm, DEPTH_MM_ENCODING, stamp), stamp)
            if depth_float:
                put(topics.depth_m, make.image(frame.depth_m, DEPTH_M_ENCODING, stamp), stamp)
            put(topics.segmentation, make.image(frame.segmentation, SEGMENTATION_ENCODING, stamp), stamp)
            put(topics.ground_truth, make.ground_truth(frame), stamp)
    return counts
