"""pose_publisher: publishes a fixed set of object poses as ObjectPoseArray and TF, from parameters.

A tool for checking RViz, TF consumers and downstream code without a camera or a model.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Header

from selfpose_ros.geometry.rotations import quaternion_to_matrix_np
from selfpose_ros.msg import ObjectPoseArray
from selfpose_ros.pose_types import ObjectPoseEstimate
from selfpose_ros.ros.node_runner import run_node
from selfpose_ros.ros.params import PosePublisherParams, load_params
from selfpose_ros.ros.pose_messages import to_object_pose_array, to_transform
from selfpose_ros.ros.tf_broadcast import TfBroadcaster


class PosePublisher(Node):
    """Publishes ``objects`` (ObjectPoseArray) and one TF frame per object at ``rate_hz``."""

    def __init__(self) -> None:
        super().__init__("pose_publisher")
        self.params = load_params(self, PosePublisherParams)
        p = self.params
        n = len(p.categories)
        R = quaternion_to_matrix_np(np.asarray(p.orientations, dtype=float).reshape(n, 4))
        self.estimates = [
            ObjectPoseEstimate(
                category=p.categories[i],
                instance=p.instances[i],
                R=R[i],
                t=np.asarray(p.positions, dtype=float).reshape(n, 3)[i],
                scale=p.scales[i],
                size=np.asarray(p.sizes, dtype=float).reshape(n, 3)[i],
            )
            for i in range(n)
        ]
        self.pub = self.create_publisher(ObjectPoseArray, "objects", 10)
        self.tf = TfBroadcaster(self)
        self.timer = self.create_timer(1.0 / p.rate_hz, self._tick)
        self.get_logger().info(
            f"publishing {n} object(s) in '{p.frame_id}' at {p.rate_hz:g} Hz (TF via {self.tf.backend})"
        )

    def _tick(self) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.params.frame_id)
        self.pub.publish(to_object_pose_array(self.estimates, header))
        self.tf.send([to_transform(e, header, self.params.tf_prefix) for e in self.estimates])


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run selfpose_ros pose_publisher --ros-args --params-file ...``."""
    return run_node(PosePublisher, args)


if __name__ == "__main__":
    raise SystemExit(main())
