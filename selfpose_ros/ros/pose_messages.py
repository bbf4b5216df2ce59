"""ObjectPoseEstimate <-> selfpose_ros/ObjectPose and geometry_msgs/TransformStamped."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from geometry_msgs.msg import Pose, TransformStamped, Vector3

from selfpose_ros.geometry.rotations import matrix_to_quaternion_np, quaternion_to_matrix_np
from selfpose_ros.msg import ObjectPose, ObjectPoseArray
from selfpose_ros.pose_types import ObjectPoseEstimate


def pose_msg(R: np.ndarray, t: np.ndarray) -> Pose:
    """Return a geometry_msgs/Pose for rotation ``R`` and translation ``t`` (metres)."""
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in t)
    q = matrix_to_quaternion_np(np.asarray(R, dtype=np.float64))  # x, y, z, w
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in q)
    return pose


def pose_to_rt(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(R, t)`` of a geometry_msgs/Pose."""
    o, p = pose.orientation, pose.position
    R = quaternion_to_matrix_np(np.array([o.x, o.y, o.z, o.w], dtype=np.float64))
    return R, np.array([p.x, p.y, p.z], dtype=np.float64)


def to_object_pose(est: ObjectPoseEstimate, header: Any) -> ObjectPose:
    """Return the ObjectPose message of an estimate, stamped with ``header``."""
    return ObjectPose(
        header=header,
        category=est.category,
        instance_id=int(est.instance),
        pose=pose_msg(est.R, est.t),
        size=Vector3(x=float(est.size[0]), y=float(est.size[1]), z=float(est.size[2])),
        scale=float(est.scale),
        confidence=float(np.clip(est.confidence, 0.0, 1.0)),
        inlier_ratio=float(np.clip(est.inlier_ratio, 0.0, 1.0)),
        num_correspondences=int(est.num_correspondences),
        fused=bool(est.fused),
        fused_views=int(est.fused_views),
        view_span=float(np.radians(est.view_span_deg)),
    )


def to_object_pose_array(estimates: Iterable[ObjectPoseEstimate], header: Any) -> ObjectPoseArray:
    """Return an ObjectPoseArray of all estimates of one image."""
    return ObjectPoseArray(header=header, objects=[to_object_pose(e, header) for e in estimates])


def from_object_pose(msg: ObjectPose) -> ObjectPoseEstimate:
    """Return the estimate carried by an ObjectPose message."""
    R, t = pose_to_rt(msg.pose)
    return ObjectPoseEstimate(
        category=msg.category,
        instance=int(msg.instance_id),
        R=R,
        t=t,
        scale=msg.scale,
        size=np.array([msg.size.x, msg.size.y, msg.size.z]),
        confidence=msg.confidence,
        inlier_ratio=msg.inlier_ratio,
        num_correspondences=msg.num_correspondences,
        fused=bool(msg.fused),
        fused_views=int(msg.fused_views),
        view_span_deg=float(np.degrees(msg.view_span)),
    )


def to_transform(est: ObjectPoseEstimate, header: Any, prefix: str = "") -> TransformStamped:
    """Return the TF of an object's canonical frame: ``<prefix><category>_<instance>`` under header.frame_id."""
    tf = TransformStamped()
    tf.header = header
    tf.child_frame_id = f"{prefix}{est.frame_name}"
    p = pose_msg(est.R, est.t)
    tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = (
        p.position.x,
        p.position.y,
        p.position.z,
    )
    tf.transform.rotation = p.orientation
    return tf
