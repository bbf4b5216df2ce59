"""sim_camera over real DDS: another process receives synchronised colour/depth/segmentation with identical stamps."""

import numpy as np
import pytest
from ros_testing import REPO, NodeProcess, require_rclpy, spin_until

rclpy = require_rclpy()
pytestmark = pytest.mark.dds

from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from selfpose_ros.msg import ObjectPoseArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from selfpose_ros.data.image_codec import image_to_numpy  # noqa: E402
from selfpose_ros.ros.sync_subscribers import SyncedSubscribers  # noqa: E402
from selfpose_ros.ros.tf_broadcast import TF_STATIC_QOS  # noqa: E402


@pytest.fixture(scope="module")
def sim_camera(tmp_path_factory):
    proc = NodeProcess(
        "selfpose_ros.ros.nodes.sim_camera", "--ros-args", "-r", "__ns:=/cam",
        "--params-file", str(REPO / "config" / "sim_camera.yaml"),
        "-p", "width:=160", "-p", "height:=120", "-p", "rate_hz:=10.0", "-p", "frames:=40",
        "-p", "categories:=[mug, bowl]", "-p", "max_objects:=3", "-p", "seed:=3",
        log_dir=tmp_path_factory.mktemp("sim"),
    )
    yield proc
    assert proc.stop() == 0, proc.output()


def test_synchronised_triples_with_identical_stamps(sim_camera):
    rclpy.init()
    node = rclpy.create_node("sim_listener")
    try:
        sets, gt, static = [], [], []
        topics = [(Image, "/cam/color/image_raw"), (Image, "/cam/depth/image_raw"),
                  (Image, "/cam/segmentation"), (CameraInfo, "/cam/color/camera_info")]
        SyncedSubscribers(node, topics, qos_profile_sensor_data, 10, 0.001, lambda *m: sets.append(m),
                          use_message_filters=False)
        node.create_subscription(ObjectPoseArray, "/cam/ground_truth/objects", gt.append, 10)
        node.create_subscription(TFMessage, "/tf_static", static.append, TF_STATIC_QOS)
        assert spin_until(node, lambda: len(sets) >= 4 and gt and static, 90.0, sim_camera), sim_camera.output()
        for rgb, depth, seg, info in sets:
            stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in (rgb, depth, seg, info)}
            assert len(stamps) == 1
            assert {m.header.frame_id for m in (rgb, depth, seg, info)} == {"camera_color_optical_frame"}
            assert (rgb.encoding, depth.encoding, seg.encoding) == ("rgb8", "16UC1", "32SC1")
            assert (rgb.width, rgb.height, info.width, info.height) == (160, 120, 160, 120)
            labels = image_to_numpy(seg)
            cats = {int(v) // 1000 for v in np.unique(labels) if v}
            assert cats <= {2, 6}  # bowl (2) and mug (6) only
            d = image_to_numpy(depth)
            # objects have depth readings (at realism default, bleeding masks and holes on dark or glossy
            # surfaces leave a third to a half of the masked pixels without one in some frames)
            assert (d[labels > 0] > 0).mean() > 0.3
            assert info.k[0] > 0 and info.k[8] == 1.0
        children = {t.child_frame_id for t in static[-1].transforms}
        assert {"camera_link", "camera_color_optical_frame"} <= children
        assert gt[-1].objects and all(o.category in ("mug", "bowl") for o in gt[-1].objects)
    finally:
        node.destroy_node()
        rclpy.shutdown()


def test_unknown_realism_level_exits_with_a_clear_message(tmp_path):
    proc = NodeProcess("selfpose_ros.ros.nodes.sim_camera", "--ros-args", "-r", "__ns:=/badcam",
                       "--params-file", str(REPO / "config" / "sim_camera.yaml"), "-p", "realism:=extreme",
                       log_dir=tmp_path)
    assert proc.proc.wait(timeout=60) == 2
    assert "realism must be one of ['none', 'default', 'heavy', 'target'], got 'extreme'" in proc.output()
    proc.stop()
