"""End-to-end over real DDS: pose_publisher in one process, this test's subscriber in another.

The node is configured with --ros-args --params-file config/pose_publisher.yaml; the test reads the same
file and checks every published field and TF frame against it, and asks the node for its parameters.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml
from ros_testing import REPO, NodeProcess, call_service, require_rclpy, ros_node, spin_until

rclpy = require_rclpy()
pytestmark = pytest.mark.dds

from rcl_interfaces.srv import GetParameters  # noqa: E402
from selfpose_ros.msg import ObjectPoseArray  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from selfpose_ros.geometry.rotations import quaternion_to_matrix_np  # noqa: E402

PARAMS_FILE = REPO / "config" / "pose_publisher.yaml"


@pytest.fixture(scope="module")
def expected():
    p = yaml.safe_load(PARAMS_FILE.read_text())["/**/pose_publisher"]["ros__parameters"]
    n = len(p["categories"])
    return p, n


@pytest.fixture(scope="module")
def publisher(tmp_path_factory):
    proc = NodeProcess(
        "selfpose_ros.ros.nodes.pose_publisher", "--ros-args", "--params-file", str(PARAMS_FILE),
        log_dir=tmp_path_factory.mktemp("logs"),
    )
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.fixture(scope="module")
def listener():
    with ros_node("test_listener") as node:
        yield node


def test_object_pose_array_fields_match_the_params_file(publisher, listener, expected):
    p, n = expected
    got: list[ObjectPoseArray] = []
    listener.create_subscription(ObjectPoseArray, "/objects", got.append, 10)
    assert spin_until(listener, lambda: len(got) >= 3, 30.0, publisher), publisher.output()
    msg = got[-1]
    assert msg.header.frame_id == p["frame_id"]
    assert msg.header.stamp.sec > 0
    assert len(msg.objects) == n
    positions = np.reshape(p["positions"], (n, 3))
    quats = np.reshape(p["orientations"], (n, 4))
    sizes = np.reshape(p["sizes"], (n, 3))
    for i, obj in enumerate(msg.objects):
        assert obj.header == msg.header
        assert obj.category == p["categories"][i]
        assert obj.instance_id == p["instances"][i]
        np.testing.assert_allclose([obj.pose.position.x, obj.pose.position.y, obj.pose.position.z], positions[i])
        q = np.array([obj.pose.orientation.x, obj.pose.orientation.y, obj.pose.orientation.z, obj.pose.orientation.w])
        np.testing.assert_allclose(quaternion_to_matrix_np(q), quaternion_to_matrix_np(quats[i]), atol=1e-9)
        np.testing.assert_allclose([obj.size.x, obj.size.y, obj.size.z], sizes[i])
        assert obj.scale == pytest.approx(p["scales"][i])
        assert obj.confidence == pytest.approx(1.0)
        assert obj.inlier_ratio == pytest.approx(1.0)
        assert obj.num_correspondences == 0


def test_tf_frames_arrive_with_prefix_and_pose(publisher, listener, expected):
    p, n = expected
    frames = {}

    def on_tf(msg):
        for tf in msg.transforms:
            frames[tf.child_frame_id] = tf

    listener.create_subscription(TFMessage, "/tf", on_tf, 100)
    names = [f"{p['tf_prefix']}{c}_{i}" for c, i in zip(p["categories"], p["instances"])]
    assert spin_until(listener, lambda: set(names) <= set(frames), 30.0, publisher), sorted(frames)
    positions = np.reshape(p["positions"], (n, 3))
    for k, name in enumerate(names):
        tf = frames[name]
        assert tf.header.frame_id == p["frame_id"]
        tr = tf.transform.translation
        np.testing.assert_allclose([tr.x, tr.y, tr.z], positions[k])


def test_node_reports_the_parameters_from_the_file(publisher, listener, expected):
    p, _ = expected
    client = listener.create_client(GetParameters, "/pose_publisher/get_parameters")
    answer = call_service(listener, client, lambda: GetParameters.Request(names=["rate_hz", "tf_prefix", "categories"]),
                          publisher)
    rate, prefix, cats = answer.values
    assert rate.double_value == pytest.approx(p["rate_hz"])
    assert prefix.string_value == p["tf_prefix"]
    assert list(cats.string_array_value) == p["categories"]


def test_invalid_parameters_exit_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pose_publisher:\n  ros__parameters:\n    categories: [mug, teapot]\n    instances: [1, 2]\n"
    )
    proc = NodeProcess("selfpose_ros.ros.nodes.pose_publisher", "--ros-args", "--params-file", str(bad),
                       log_dir=tmp_path)
    assert proc.proc.wait(timeout=60) == 2
    out = proc.output()
    assert "unknown categories ['teapot']" in out
    assert "positions has 3 values, expected 3 x 2 objects = 6" in out
    proc.stop()


def test_params_file_exists_and_is_installed():
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert "install(DIRECTORY launch config models" in cmake
    assert Path(PARAMS_FILE).is_file()
