"""sim_camera: plays a simulated tabletop scene live as an RGB-D-segmentation camera with TF and ground truth.

Publishes (relative, remappable) color/image_raw, depth/image_raw, segmentation, color/camera_info,
depth/camera_info, ground_truth/objects, plus /tf (map -> base_link) and /tf_static (camera mount).
All images of a frame carry the same stamp (the time of publication).
"""

from __future__ import annotations

import time

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from selfpose_ros.data import topics
from selfpose_ros.data.image_codec import numpy_to_image
from selfpose_ros.msg import ObjectPoseArray
from selfpose_ros.ros.node_runner import run_node
from selfpose_ros.ros.params import SimCameraParams, load_params
from selfpose_ros.ros.sim_messages import camera_info_msg, ground_truth_msg, transform_msg
from selfpose_ros.ros.tf_broadcast import StaticTfBroadcaster, TfBroadcaster
from selfpose_ros.ros.throttled_warnings import ThrottledWarnings
from selfpose_ros.sim.realism import realism_preset
from selfpose_ros.sim.scene import SceneConfig
from selfpose_ros.sim.simulator import SimConfig, SimScene
from selfpose_ros.sim.tf_tree import BASE_FRAME, MAP_FRAME, OPTICAL_FRAME, FrameTransform


class SimCamera(Node):
    """Renders one frame per timer tick and publishes it."""

    def __init__(self) -> None:
        super().__init__("sim_camera")
        p = self.params = load_params(self, SimCameraParams)
        self.config = SimConfig(
            width=p.width, height=p.height, hfov_deg=p.hfov_deg, rate_hz=p.rate_hz, num_frames=p.frames,
            trajectory=p.trajectory, realism=realism_preset(p.realism),
            scene=SceneConfig(categories=tuple(p.categories), min_objects=p.min_objects, max_objects=p.max_objects),
        )
        # reliable, like camera drivers by default (image_transport): matches reliable and best-effort subscribers
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_rgb = self.create_publisher(Image, topics.RGB, qos)
        self.pub_depth = self.create_publisher(Image, topics.DEPTH, qos)
        self.pub_seg = self.create_publisher(Image, topics.SEGMENTATION, qos)
        self.pub_info = self.create_publisher(CameraInfo, topics.CAMERA_INFO, qos)
        self.pub_depth_info = self.create_publisher(CameraInfo, topics.DEPTH_CAMERA_INFO, qos)
        self.pub_gt = self.create_publisher(ObjectPoseArray, "ground_truth/objects", 10)
        self.warnings = ThrottledWarnings(self, p.warn_period)
        self.tf = TfBroadcaster(self)
        self.static_tf = StaticTfBroadcaster(self)
        self.loop_index, self.index, self.published = 0, 0, 0
        self.cache: list = []  # rendered frames of the first sequence, with repeat_sequence
        self.sim = self._new_sequence()
        self.timer = self.create_timer(1.0 / p.rate_hz, self._tick)

    def _new_sequence(self) -> SimScene:
        seed = self.params.seed + self.loop_index
        sim = SimScene(self.config, seed)
        stamp = self.get_clock().now().to_msg()
        self.static_tf.send([transform_msg(tf, stamp) for tf in sim.static_transforms])
        names = ", ".join(f"{o.category}_{o.instance_id}" for o in sim.scene.objects)
        self.get_logger().info(f"sequence seed {seed}: {sim.trajectory_kind} trajectory, {sim.num_frames} frames, "
                               f"realism {self.params.realism}, "
                               f"{len(sim.scene.objects)} objects ({names})")
        return sim

    def _tick(self) -> None:
        if self.index >= self.sim.num_frames:
            if not self.params.loop:
                self.timer.cancel()
                self.get_logger().info(f"sequence finished after {self.published} frames")
                return
            self.index = 0
            if not self.params.repeat_sequence:
                self.loop_index += 1
                self.sim = self._new_sequence()
        t0 = time.monotonic()
        if self.index < len(self.cache):
            frame = self.cache[self.index]
        else:
            frame = self.sim.render(self.index)
            if self.params.repeat_sequence:
                self.cache.append(frame)
        self.index += 1
        stamp = self.get_clock().now().to_msg()
        header = Header(stamp=stamp, frame_id=OPTICAL_FRAME)
        self.tf.send(transform_msg(FrameTransform(MAP_FRAME, BASE_FRAME, frame.T_map_base), stamp))
        depth = frame.depth_mm if self.params.depth_encoding == "16UC1" else frame.depth_m
        info = camera_info_msg(frame.camera, header)
        self.pub_info.publish(info)
        self.pub_depth_info.publish(info)
        self.pub_rgb.publish(numpy_to_image(frame.rgb, "rgb8", header))
        self.pub_depth.publish(numpy_to_image(depth, self.params.depth_encoding, header))
        self.pub_seg.publish(numpy_to_image(frame.segmentation, "32SC1", header))
        if self.params.publish_ground_truth:
            self.pub_gt.publish(ground_truth_msg(frame, header))
        self.published += 1
        period, took = 1.0 / self.params.rate_hz, time.monotonic() - t0
        if took > period:
            self.warnings.warn("slow_frame", f"frame {self.published} took {1e3 * took:.0f} ms to render and "
                               f"publish, more than the {1e3 * period:.0f} ms period: publishing below rate_hz")


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run selfpose_ros sim_camera --ros-args --params-file config/sim_camera.yaml``."""
    return run_node(SimCamera, args)


if __name__ == "__main__":
    raise SystemExit(main())
