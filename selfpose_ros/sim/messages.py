"""ROS 2 messages (rosbags type-store classes) for a simulated frame: images, camera_info, TF, ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np
from rosbags.typesys.store import Typestore

from selfpose_ros.data.image_codec import image_fields
from selfpose_ros.data.stamps import ns_to_sec_nanosec
from selfpose_ros.geometry.rotations import matrix_to_quaternion_np
from selfpose_ros.sim.pinhole import PinholeCamera
from selfpose_ros.sim.simulator import ObjectTruth, SimFrame
from selfpose_ros.sim.tf_tree import MAP_FRAME, OPTICAL_FRAME, FrameTransform

#: Image encodings written by the simulator (REP 118 for depth).
RGB_ENCODING = "rgb8"
DEPTH_MM_ENCODING = "16UC1"
DEPTH_M_ENCODING = "32FC1"
SEGMENTATION_ENCODING = "32SC1"


class MessageFactory:
    """Builds rosbags message objects from simulator data with one type store."""

    def __init__(self, store: Typestore):
        self.store = store
        self.t = store.types

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        """std_msgs/Header with the stamp split into sec / nanosec."""
        sec, nsec = ns_to_sec_nanosec(stamp_ns)
        return self.t["std_msgs/msg/Header"](stamp=self.t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nsec),
                                             frame_id=frame_id)

    def image(self, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = OPTICAL_FRAME) -> Any:
        """sensor_msgs/Image of a (H, W) or (H, W, C) little-endian array."""
        return self.t["sensor_msgs/msg/Image"](header=self.header(stamp_ns, frame_id), **image_fields(array, encoding))

    def camera_info(self, camera: PinholeCamera, stamp_ns: int, frame_id: str = OPTICAL_FRAME) -> Any:
        """sensor_msgs/CameraInfo: plumb_bob with zero distortion, identity rectification."""
        roi = self.t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return self.t["sensor_msgs/msg/CameraInfo"](
            header=self.header(stamp_ns, frame_id), height=camera.height, width=camera.width,
            distortion_model="plumb_bob", d=camera.D.astype(np.float64), k=camera.K.reshape(-1).astype(np.float64),
            r=np.eye(3).reshape(-1), p=camera.P.reshape(-1).astype(np.float64), binning_x=0, binning_y=0, roi=roi,
        )

    def pose(self, R: np.ndarray, t: np.ndarray) -> Any:
        """geometry_msgs/Pose from a rotation and a translation."""
        q = matrix_to_quaternion_np(R)
        return self.t["geometry_msgs/msg/Pose"](
            position=self.t["geometry_msgs/msg/Point"](x=float(t[0]), y=float(t[1]), z=float(t[2])),
            orientation=self.t["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3]),
        )

    def transform_stamped(self, tf: FrameTransform, stamp_ns: int) -> Any:
        """geometry_msgs/TransformStamped of a parent <- child transform."""
        q = matrix_to_quaternion_np(tf.matrix[:3, :3])
        x, y, z = (float(v) for v in tf.matrix[:3, 3])
        transform = self.t["geometry_msgs/msg/Transform"](
            translation=self.t["geometry_msgs/msg/Vector3"](x=x, y=y, z=z),
            rotation=self.t["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3]),
        )
        return self.t["geometry_msgs/msg/TransformStamped"](
            header=self.header(stamp_ns, tf.parent), child_frame_id=tf.child, transform=transform
        )

    def tf_message(self, transforms: list[FrameTransform], stamp_ns: int) -> Any:
        """tf2_msgs/TFMessage holding the given transforms, all with one stamp."""
        return self.t["tf2_msgs/msg/TFMessage"](transforms=[self.transform_stamped(x, stamp_ns) for x in transforms])

    def object_pose(self, obj: ObjectTruth, stamp_ns: int, frame_id: str = OPTICAL_FRAME) -> Any:
        """selfpose_ros/ObjectPose of a ground-truth object; visibility goes in ``confidence``."""
        return self.t["selfpose_ros/msg/ObjectPose"](
            header=self.header(stamp_ns, frame_id), category=obj.category, instance_id=obj.instance_id,
            pose=self.pose(obj.rotation, obj.translation),
            size=self.t["geometry_msgs/msg/Vector3"](x=float(obj.size[0]), y=float(obj.size[1]), z=float(obj.size[2])),
            scale=float(obj.scale), confidence=float(obj.visibility), inlier_ratio=1.0, num_correspondences=0,
            fused=False, fused_views=0, view_span=0.0,
        )

    def ground_truth(self, frame: SimFrame, frame_id: str = OPTICAL_FRAME) -> Any:
        """selfpose_ros/ObjectPoseArray with every object of the frame (visible or not)."""
        return self.t["selfpose_ros/msg/ObjectPoseArray"](
            header=self.header(frame.stamp_ns, frame_id),
            objects=[self.object_pose(o, frame.stamp_ns, frame_id) for o in frame.objects],
        )

    def base_tf(self, frame: SimFrame, child: str) -> Any:
        """/tf message with the moving map -> base_link transform of the frame."""
        return self.tf_message([FrameTransform(MAP_FRAME, child, frame.T_map_base)], frame.stamp_ns)
