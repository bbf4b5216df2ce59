"""640x480 frames reach pose_estimator with its default QoS, and a publisher it cannot match is named.

Issue 10: with best-effort subscriptions every 640x480 frame set could be lost (Fast DDS drops a sample when one
of its fragments is overwritten in the publisher's 512 KB shared-memory segment before a busy reader copied it),
and the node only said "no synchronised frames yet". Now the inputs are reliable by default (`image_qos`), so a
lost fragment is resent; this test uses Fast DDS' default transport, without the large-image profile.
"""

import os

import pytest
from ros_testing import REPO, NodeProcess, require_rclpy, spin_until

rclpy = require_rclpy()

from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from selfpose_ros.msg import ObjectPoseArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from selfpose_ros.data.image_codec import numpy_to_image  # noqa: E402
from selfpose_ros.data.stamps import stamp_to_ns  # noqa: E402
from selfpose_ros.ros.sim_messages import camera_info_msg  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402

NS = "/qos_test"
TOPICS = [
    (Image, "color/image_raw"),
    (Image, "depth/image_raw"),
    (Image, "segmentation"),
    (CameraInfo, "color/camera_info"),
]


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    for var in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE"):
        os.environ.pop(var, None)  # Fast DDS defaults, for the node and for this process
    proc = NodeProcess(
        "selfpose_ros.ros.nodes.pose_estimator",
        "--ros-args",
        "-r",
        f"__ns:={NS}",
        "--params-file",
        str(REPO / "config" / "pose.yaml"),
        "-p",
        "model:=prior_fit",
        "-p",
        "device:=cpu",
        "-p",
        "warn_period:=0.0",
        log_dir=tmp_path_factory.mktemp("qos"),
    )
    rclpy.init()
    node = rclpy.create_node("qos_camera")
    yield proc, node
    node.destroy_node()
    rclpy.shutdown()
    assert proc.stop() == 0, proc.output()


def test_640x480_frames_from_a_reliable_camera_all_arrive(estimator):
    proc, node = estimator
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)  # a driver's default (image_transport)
    pubs = [node.create_publisher(t, f"{NS}/{name}", qos) for t, name in TOPICS]
    answers = {}
    node.create_subscription(
        ObjectPoseArray, f"{NS}/objects", lambda m: answers.setdefault(stamp_to_ns(m.header.stamp), len(m.objects)), 10
    )
    assert spin_until(node, lambda: all(p.get_subscription_count() for p in pubs), 120.0, proc), proc.output()
    sim = SimScene(
        SimConfig(num_frames=4, scene=SceneConfig(categories=("mug", "bowl"), min_objects=2, max_objects=2)), seed=5
    )
    for k in range(4):  # closed loop, as node_latency.py: the next frame goes out after the answer
        frame = sim.render(k)
        stamp = node.get_clock().now()
        header = Header(stamp=stamp.to_msg(), frame_id="camera_color_optical_frame")
        msgs = [
            numpy_to_image(frame.rgb, "rgb8", header),
            numpy_to_image(frame.depth_mm, "16UC1", header),
            numpy_to_image(frame.segmentation, "32SC1", header),
            camera_info_msg(frame.camera, header),
        ]
        for pub, msg in zip(pubs, msgs):
            pub.publish(msg)
        assert spin_until(node, lambda key=stamp.nanoseconds: key in answers, 60.0, proc), (
            f"frame {k} (640x480) never answered:\n{proc.output()}"
        )
    assert len(answers) == 4


def test_a_best_effort_publisher_is_named_with_the_fix(estimator):
    proc, node = estimator
    node.create_publisher(Image, f"{NS}/segmentation", qos_profile_sensor_data)
    assert spin_until(node, lambda: "image_qos:=sensor_data" in proc.output(), 30.0, proc), proc.output()
    assert "'segmentation'" in proc.output()
