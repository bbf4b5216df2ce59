"""~/start on a full or nearly full disk answers success: false with the reason, and starts once there is room.

The output folder is a small tmpfs where this machine allows mounting one (root with CAP_SYS_ADMIN); elsewhere
a minimum larger than the real free space stands in for the full disk (the ENOSPC of the probe write itself is
covered in test_recorder_bag_check.py).
"""

import json
import shutil
import subprocess

import pytest
from ros_testing import REPO, NodeProcess, call_service, require_rclpy, stop_leftover_processes

rclpy = require_rclpy()

from std_srvs.srv import Trigger  # noqa: E402

NS = "/startcheck"


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs mounted at tmp_path/disk, or None where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        yield None
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def probe():
    rclpy.init()
    node = rclpy.create_node("test_start_checks_probe")
    yield node
    node.destroy_node()
    rclpy.shutdown()


@pytest.fixture(autouse=True)
def _no_orphans():
    """Kill a recorder a failed assertion left running, after each test (its tmpfs goes with the test)."""
    yield
    stop_leftover_processes()


def recorder(tmp_path, output_dir, min_free_mb):
    return NodeProcess("selfpose_ros.ros.nodes.trajectory_recorder", "--ros-args", "-r", f"__ns:={NS}",
                       "--params-file", str(REPO / "config" / "record.yaml"), "-p", f"output_dir:={output_dir}",
                       "-p", "autostart:=false", "-p", f"min_free_space_mb:={min_free_mb}", log_dir=tmp_path,
                       name=f"recorder_{min_free_mb}")


def call(node, proc, name, refused=False):
    """Call the recorder's ``name`` service. ``status`` and a start expected to be ``refused`` change nothing, so
    they are asked again when Fast DDS drops the response (``call_service``); a start that may succeed is not."""
    client = node.create_client(Trigger, f"{NS}/trajectory_recorder/{name}")
    answer = call_service(node, client, Trigger.Request, proc, 30.0, attempts=3 if name == "status" or refused else 1)
    node.destroy_client(client)
    return answer


def fill(path, leave_bytes):
    """Write a file into ``path`` until only about ``leave_bytes`` are free (0: until ENOSPC)."""
    with open(path / "filler", "ab") as f:
        while True:
            free = shutil.disk_usage(path).free
            if free <= leave_bytes:
                return
            try:
                f.write(b"\1" * min(65536, max(free - leave_bytes, 1)))
                f.flush()
            except OSError:
                return


def test_start_refuses_a_full_disk_then_starts_when_there_is_room(small_disk, probe, tmp_path):
    if small_disk is None:  # no mount here: a minimum above the free space plays the full disk
        free_mb = shutil.disk_usage(tmp_path).free / 1e6
        proc = recorder(tmp_path, tmp_path / "bags", free_mb + 1e9)
        answer = call(probe, proc, "start", refused=True)
        assert not answer.success and "less than min_free_space_mb" in answer.message, answer.message
        status = json.loads(call(probe, proc, "status").message)
        assert not status["recording"] and "less than min_free_space_mb" in status["error"]
        assert proc.stop() == 0
        proc = recorder(tmp_path, tmp_path / "bags", 0.0)
        assert call(probe, proc, "start").success
        assert call(probe, proc, "stop").success
        assert proc.stop() == 0
        return
    out = small_disk / "bags"
    proc = recorder(tmp_path, out, 1.0)
    fill(small_disk, 500_000)  # room for the probe, not for min_free_space_mb
    answer = call(probe, proc, "start", refused=True)
    assert not answer.success and "less than min_free_space_mb (1.0 MB)" in answer.message, answer.message
    fill(small_disk, 0)  # the disk is full: the probe write fails with ENOSPC
    answer = call(probe, proc, "start", refused=True)
    assert not answer.success and "is not writable: the disk is full" in answer.message, answer.message
    status = json.loads(call(probe, proc, "status").message)
    assert not status["recording"] and "the disk is full" in status["error"] and status["keyframes_written"] == 0
    assert not list(out.glob("trajectory_*")), "a refused start must leave no bag behind"
    (small_disk / "filler").unlink()
    answer = call(probe, proc, "start")
    assert answer.success and answer.message.startswith(str(out)), answer.message
    assert json.loads(call(probe, proc, "status").message)["recording"]
    assert call(probe, proc, "stop").success
    assert proc.stop() == 0, proc.output()
    assert "Traceback" not in proc.log_path.read_text()
