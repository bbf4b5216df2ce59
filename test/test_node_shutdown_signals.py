"""Ctrl-C on running nodes (issue 10, item 6): one SIGINT, or two in quick succession, stops each node with exit
status 0 and a clean log: no traceback, no KeyboardInterrupt, no "context is invalid" from the worker, no
unretrieved executor exception.

sim_camera feeds pose_estimator (gravity from TF, so its worker is busy and its TF thread receives) and
trajectory_recorder over real DDS; each is stopped while frames flow.
"""

import json
import signal
import time

import pytest
from ros_testing import REPO, NodeProcess, call_service, require_rclpy, spin_until

rclpy = require_rclpy()

from rosbags.rosbag2 import Reader  # noqa: E402
from selfpose_ros.msg import ObjectPoseArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

NS = "/sigtest"
#: What must never appear in the log of a node stopped by SIGINT.
NOISE = ("Traceback", "KeyboardInterrupt", "never retrieved", "RCLError", "context is invalid", "InvalidHandle",
         "frame processing failed", "[ERROR]")


def signal_and_wait(proc: NodeProcess, count: int, gap_s: float = 0.05, timeout: float = 60.0) -> int:
    """Send SIGINT ``count`` times, ``gap_s`` apart, and return the exit status (no kill)."""
    for i in range(count):
        if proc.proc.poll() is not None:
            break
        proc.proc.send_signal(signal.SIGINT)
        if i + 1 < count:
            time.sleep(gap_s)
    rc = proc.proc.wait(timeout)
    proc.stop()
    return rc


def assert_clean(log: str) -> None:
    found = [n for n in NOISE if n in log]
    assert not found, f"{found} in the log:\n{log}"


@pytest.fixture(scope="module")
def node():
    rclpy.init()
    n = rclpy.create_node("test_shutdown_probe")
    yield n
    n.destroy_node()
    rclpy.shutdown()


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """sim_camera at 160x120, 10 Hz, in NS (stopped by the last test)."""
    tmp = tmp_path_factory.mktemp("camera")
    proc = NodeProcess("selfpose_ros.ros.nodes.sim_camera", "--ros-args", "-r", f"__ns:={NS}",
                       "--params-file", str(REPO / "config" / "sim_camera.yaml"), "-p", "width:=160", "-p",
                       "height:=120", "-p", "rate_hz:=10.0", "-p", "categories:=[mug, bowl]", "-p", "min_objects:=2",
                       "-p", "max_objects:=2", log_dir=tmp)
    yield proc
    proc.stop(signal.SIGKILL)


@pytest.mark.parametrize("signals", [1, 2])
def test_pose_estimator_stops_cleanly_while_busy(node, camera, tmp_path, signals):
    proc = NodeProcess("selfpose_ros.ros.nodes.pose_estimator", "--ros-args", "-r", f"__ns:={NS}",
                       "--params-file", str(REPO / "config" / "pose.yaml"), "-p", "gravity_frame:=map",
                       "-p", "min_mask_pixels:=20", log_dir=tmp_path, name=f"pose_estimator_{signals}")
    results = []
    sub = node.create_subscription(ObjectPoseArray, f"{NS}/objects", results.append, 10)
    try:
        assert spin_until(node, lambda: len(results) >= 3, 90.0, proc), (proc.output(), camera.output())
    except BaseException:
        proc.stop(signal.SIGKILL)
        raise
    finally:
        node.destroy_subscription(sub)
    rc = signal_and_wait(proc, signals)
    log = proc.log_path.read_text()
    assert rc == 0, log
    assert_clean(log)


def test_recorder_stops_cleanly_on_two_sigints(node, camera, tmp_path):
    proc = NodeProcess("selfpose_ros.ros.nodes.trajectory_recorder", "--ros-args", "-r", f"__ns:={NS}",
                       "--params-file", str(REPO / "config" / "record.yaml"), "-p", f"output_dir:={tmp_path / 'bags'}",
                       "-p", "min_rotation_deg:=1.0", "-p", "min_translation:=0.01", log_dir=tmp_path)
    client = node.create_client(Trigger, f"{NS}/trajectory_recorder/status")
    state = {}

    def recording_frames():
        state.update(json.loads(call_service(node, client, Trigger.Request, proc).message))
        return state.get("keyframes_kept", 0) >= 2

    try:
        assert spin_until(node, recording_frames, 90.0, proc), (state, proc.output(), camera.output())
    except BaseException:
        proc.stop(signal.SIGKILL)
        raise
    rc = signal_and_wait(proc, 2)
    log = proc.log_path.read_text()
    assert rc == 0, log
    assert_clean(log)
    assert "recording stopped;" in log
    with Reader(state["bag"]) as reader:  # closed by the orderly shutdown: readable without repair
        assert sum(c.msgcount for c in reader.connections if c.topic == "/trajectory/keyframe") >= 2


def test_sim_camera_stops_cleanly_on_two_sigints(camera):
    rc = signal_and_wait(camera, 2)
    log = camera.log_path.read_text()
    assert rc == 0, log
    assert_clean(log)
