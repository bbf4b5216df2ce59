"""rclpy messages of a simulated frame: images, camera_info, TF and ground truth (stamped by the caller)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from selfpose_ros.data.stamps import ns_to_sec_nanosec
from selfpose_ros.msg import ObjectPoseArray
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.ros.pose_messages import pose_msg, to_object_pose_array
from selfpose_ros.sim.pinhole import PinholeCamera
from selfpose_ros.sim.simulator import SimFrame
from selfpose_ros.sim.tf_tree import FrameTransform


def time_msg(stamp_ns: int) -> Time:
    """Return builtin_interfaces/Time for integer nanoseconds."""
    sec, nanosec = ns_to_sec_nanosec(stamp_ns)
    return Time(sec=sec, nanosec=nanosec)


def camera_info_msg(camera: PinholeCamera, header: Header) -> CameraInfo:
    """Return the CameraInfo (plumb_bob, no distortion) of a pinhole camera."""
    info = CameraInfo(header=header, width=camera.width, height=camera.height, distortion_model="plumb_bob")
    info.k = [float(v) for v in np.asarray(camera.K).ravel()]
    info.p = [float(v) for v in np.asarray(camera.P).ravel()]
    info.d = [float(v) for v in np.asarray(camera.D).ravel()]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    return info


def transform_msg(tf: FrameTransform, stamp: Time) -> TransformStamped:
    """Return a TransformStamped for a simulator FrameTransform (child -> parent)."""
    msg = TransformStamped()
    msg.header.stamp, msg.header.frame_id, msg.child_frame_id = stamp, tf.parent, tf.child
    pose = pose_msg(tf.matrix[:3, :3], tf.matrix[:3, 3])
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (
        pose.position.x, pose.position.y, pose.position.z)
    msg.transform.rotation = pose.orientation
    return msg


def ground_truth_msg(frame: SimFrame, header: Header) -> ObjectPoseArray:
    """Return the frame's ground truth; visibility travels in ``confidence`` (the evaluator's convention)."""
    estimates = [
        ObjectPoseEstimate(category=o.category, instance=o.instance_id, R=o.rotation, t=o.translation,
                           scale=o.scale, size=o.size, confidence=o.visibility, inlier_ratio=1.0,
                           num_correspondences=0)
        for o in frame.objects
    ]
    return to_object_pose_array(estimates, header)
