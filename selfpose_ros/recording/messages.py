"""The recorder's own messages, serialised to CDR with the rosbags type store (no rclpy).

Topics of a trajectory bag (docs/recorder.md): the camera images and camera_info under their ROS names,
``/tf`` and ``/tf_static`` as received, and the three below.
"""

from __future__ import annotations

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from selfpose_ros.data.stamps import ns_to_sec_nanosec
from selfpose_ros.data.typestore import get_typestore
from selfpose_ros.geometry.rotations import matrix_to_quaternion_np

POSE_TOPIC = "/trajectory/camera_pose"  # geometry_msgs/PoseStamped: fixed_frame <- camera, stamp = image stamp
KEYFRAME_TOPIC = "/trajectory/keyframe"  # std_msgs/String JSON, written after the keyframe's other messages
METADATA_TOPIC = "/trajectory/metadata"  # std_msgs/String JSON, latched, first message of every bag
TF_TOPIC = "/tf"
TF_STATIC_TOPIC = "/tf_static"

POSE_TYPE = "geometry_msgs/msg/PoseStamped"
STRING_TYPE = "std_msgs/msg/String"
TF_TYPE = "tf2_msgs/msg/TFMessage"
IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"

_INFINITE = QosTime(sec=9223372036, nsec=854775807)  # rosbag2's spelling of "no deadline / lifespan"

#: Offered QoS of latched topics (/tf_static, /trajectory/metadata): replay republishes them transient-local.
LATCHED_QOS = (Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, _INFINITE,
                   _INFINITE, QosLiveliness.AUTOMATIC, _INFINITE, False),)


def _stamp(stamp_ns: int):
    Time = get_typestore().types["builtin_interfaces/msg/Time"]
    sec, nanosec = ns_to_sec_nanosec(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def pose_stamped_cdr(T: np.ndarray, frame_id: str, stamp_ns: int) -> bytes:
    """CDR bytes of a geometry_msgs/PoseStamped holding the rigid transform ``T`` (4x4) in ``frame_id``."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise ValueError(f"pose must be a finite 4x4 matrix, got shape {T.shape}")
    store = get_typestore()
    ty = store.types
    q = matrix_to_quaternion_np(T[:3, :3])
    msg = ty[POSE_TYPE](
        header=ty["std_msgs/msg/Header"](stamp=_stamp(stamp_ns), frame_id=frame_id),
        pose=ty["geometry_msgs/msg/Pose"](
            position=ty["geometry_msgs/msg/Point"](x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
            orientation=ty["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]), z=float(q[2]),
                                                           w=float(q[3])),
        ),
    )
    return bytes(store.serialize_cdr(msg, POSE_TYPE))


def string_cdr(text: str) -> bytes:
    """CDR bytes of a std_msgs/String."""
    store = get_typestore()
    return bytes(store.serialize_cdr(store.types[STRING_TYPE](data=text), STRING_TYPE))
