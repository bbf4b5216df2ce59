"""pose_estimator over DDS with a semantic-only segmentation (label_mode semantic + label_map): objects come out
under the mapped categories, and a value missing from the map gets a warning naming it."""

import numpy as np
import pytest
from ros_testing import REPO, NodeProcess, require_rclpy, spin_until

rclpy = require_rclpy()

from rclpy.qos import QoSProfile  # noqa: E402
from selfpose_ros.msg import ObjectPoseArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from selfpose_ros.conventions import CATEGORIES, LABEL_DIVISOR  # noqa: E402
from selfpose_ros.data.image_codec import numpy_to_image  # noqa: E402
from selfpose_ros.ros.sim_messages import camera_info_msg  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402

NS = "/label_map_test"
SEMANTIC_ID = {"mug": 47, "bowl": 51}  # e.g. a COCO-style semantic segmenter's class ids


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
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
        "label_mode:=semantic",
        "-p",
        "label_map:=47:mug,51:bowl",
        "-p",
        "tracking:=false",
        "-p",
        "min_confidence:=0.0",
        log_dir=tmp_path_factory.mktemp("label_map"),
    )
    yield proc
    assert proc.stop() == 0, proc.output()


def test_semantic_segmentation_through_the_node(estimator):
    rclpy.init()
    node = rclpy.create_node("label_map_camera")
    try:
        topics = [
            (Image, "color/image_raw"),
            (Image, "depth/image_raw"),
            (Image, "segmentation"),
            (CameraInfo, "color/camera_info"),
        ]
        pubs = [node.create_publisher(t, f"{NS}/{name}", QoSProfile(depth=5)) for t, name in topics]
        got = []
        node.create_subscription(ObjectPoseArray, f"{NS}/objects", got.append, 10)
        assert spin_until(node, lambda: all(p.get_subscription_count() for p in pubs), 120.0, estimator)
        sim = SimScene(
            SimConfig(
                width=320,
                height=240,
                num_frames=3,
                scene=SceneConfig(categories=("mug", "bowl"), min_objects=2, max_objects=2),
            ),
            seed=4,
        )
        for k in range(3):
            frame = sim.render(k)
            panoptic = frame.segmentation
            semantic = np.zeros(panoptic.shape, np.uint8)
            for value in np.unique(panoptic[panoptic > 0]):
                semantic[panoptic == value] = SEMANTIC_ID[CATEGORIES[value // LABEL_DIVISOR - 1]]
            semantic[:20, :20] = 13  # a class the map does not know
            header = Header(stamp=node.get_clock().now().to_msg(), frame_id="camera_color_optical_frame")
            msgs = [
                numpy_to_image(frame.rgb, "rgb8", header),
                numpy_to_image(frame.depth_mm, "16UC1", header),
                numpy_to_image(semantic, "8UC1", header),
                camera_info_msg(frame.camera, header),
            ]
            for pub, msg in zip(pubs, msgs):
                pub.publish(msg)
            n = len(got)
            assert spin_until(node, lambda n=n: len(got) > n, 60.0, estimator), estimator.output()
        found = {(o.category, o.instance_id) for m in got for o in m.objects}
        assert found and found <= {("mug", 1), ("bowl", 1)}, estimator.output()
        assert spin_until(node, lambda: "segmentation values [13] are not in label_map" in estimator.output(), 10.0)
    finally:
        node.destroy_node()
        rclpy.shutdown()
