"""A SIGKILLed recording, end to end: sim_camera -> trajectory_recorder over real DDS, SIGKILL, then the commands.

`selfpose bag-repair` refuses the live bag, repairs the killed one (to a copy with --out, then in place, also
as `python -m selfpose_ros.recording.repair`) and prints what it recovered; train, predict and eval stop with
one line naming the bag and the repair command, and predict --repair reads a repaired temporary copy while
the killed bag stays as it was.
"""

import json
import shutil
import signal
import subprocess
import sys

import pytest
from ros_testing import REPO, NodeProcess, call_service, require_rclpy, spin_until

rclpy = require_rclpy()

from rosbags.rosbag2 import Reader  # noqa: E402
from rosbags.rosbag2.errors import ReaderError  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from selfpose_ros.recording.bag_check import check_bag  # noqa: E402

NS = "/camera"  # the namespace selfpose predict reads by default
KEYFRAME_TOPIC = "/trajectory/keyframe"


def selfpose(*args, module="selfpose_ros.cli.main", timeout=300):
    """Run the selfpose command in a fresh process; return (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def counts(bag):
    with Reader(bag) as reader:
        out = {}
        for c in reader.connections:
            out[c.topic] = out.get(c.topic, 0) + c.msgcount
        return out


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A bag whose recorder was SIGKILLed mid-recording, plus what the live bag-repair attempt said."""
    tmp = tmp_path_factory.mktemp("killed")
    sim = NodeProcess("selfpose_ros.ros.nodes.sim_camera", "--ros-args", "-r", f"__ns:={NS}",
                      "--params-file", str(REPO / "config" / "sim_camera.yaml"), "-p", "width:=96", "-p", "height:=72",
                      "-p", "rate_hz:=10.0", "-p", "categories:=[mug]", "-p", "max_objects:=1",
                      "-p", "trajectory:=orbit", "-p", "seed:=3", log_dir=tmp)
    rec = NodeProcess("selfpose_ros.ros.nodes.trajectory_recorder", "--ros-args", "-r", f"__ns:={NS}",
                      "--params-file", str(REPO / "config" / "record.yaml"), "-p", f"output_dir:={tmp / 'bags'}",
                      "-p", "min_rotation_deg:=2.0", "-p", "min_translation:=0.02", "-p", "chunk_period_s:=0.2",
                      "-p", "metadata_period_s:=0.3", log_dir=tmp)
    rclpy.init()
    node = rclpy.create_node("test_bag_repair_probe")
    state = {}
    try:
        client = node.create_client(Trigger, f"{NS}/trajectory_recorder/status")

        def flushed():
            state.update(json.loads(call_service(node, client, Trigger.Request, rec).message))
            return state.get("keyframes_flushed", 0) >= 4

        assert spin_until(node, flushed, 120.0, rec), (state, sim.output(), rec.output())
        live = selfpose("bag-repair", state["bag"])  # the recorder is still writing it
    finally:
        node.destroy_node()
        rclpy.shutdown()
        rec.stop(signal.SIGKILL)
        sim.stop()
    pristine = tmp / "pristine" / "bag"
    shutil.copytree(state["bag"], pristine)  # the killed bag as it was, for the commands that must not touch it
    return {"bag": state["bag"], "pristine": pristine, "status": state, "live": live, "tmp": tmp}


def test_bag_repair_refuses_a_bag_being_recorded(killed):
    rc, out, err = killed["live"]
    assert rc == 1 and "is being written by a running recorder" in err, (out, err)


def test_the_killed_bag_is_unreadable_and_the_check_says_why(killed):
    with pytest.raises(ReaderError):
        Reader(killed["bag"]).open()
    status = check_bag(killed["bag"])
    assert status.state == "incomplete" and "marks it incomplete" in status.reason
    assert f"selfpose bag-repair {killed['bag']}" in status.line()


@pytest.mark.parametrize("command", ["train", "predict", "eval"])
def test_long_commands_stop_with_one_line_naming_the_bag(killed, command, tmp_path):
    bag = killed["pristine"]
    args = {"train": ["train", "--config", REPO / "config" / "train_selfsup.yaml", "--set", f"data.bags=[{bag}]"],
            "predict": ["predict", "--model", "prior_fit", "--bag", bag, "--out", tmp_path / "p.jsonl"],
            "eval": ["eval", "--pred", tmp_path / "p.jsonl", "--gt", bag]}[command]
    rc, out, err = selfpose(*args)
    lines = err.strip().splitlines()
    assert rc == 2 and "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"selfpose {command}: error: bag {bag} is incomplete")
    assert f"`selfpose bag-repair {bag}`" in lines[0] and "--repair" in lines[0]


def test_bag_repair_to_a_copy_then_in_place(killed, tmp_path):
    bag, flushed = killed["bag"], killed["status"]["keyframes_flushed"]
    rc, out, err = selfpose("bag-repair", bag, "--out", tmp_path / "fixed")
    assert rc == 0, (out, err)
    copy = tmp_path / "fixed" / killed["status"]["bag"].rsplit("/", 1)[-1]
    assert f"repaired copy written to {copy}" in out
    with pytest.raises(ReaderError):
        Reader(bag).open()  # --out leaves the original alone
    found = counts(copy)
    assert found[KEYFRAME_TOPIC] >= flushed
    assert f"keyframes recovered: {found[KEYFRAME_TOPIC]}" in out
    for topic, n in found.items():  # one line per topic with what was recovered
        assert any(line.split()[:2] == [topic, str(n)] for line in out.splitlines()), (topic, n, out)

    rc, out, err = selfpose(bag, module="selfpose_ros.recording.repair")  # the module runs the same command
    assert rc == 0 and "repaired in place: truncated" in out, (out, err)
    assert counts(bag) == found
    rc, out, err = selfpose("bag-repair", bag)
    assert rc == 0 and "complete, not touched" in out and "0 repaired, 1 complete" in out, (out, err)
    rc, out, err = selfpose("bag-repair", bag, "--force")
    assert rc == 0 and "metadata.yaml rebuilt (forced)" in out and counts(bag) == found, (out, err)


def test_module_without_arguments_is_not_silent():
    rc, out, err = selfpose(module="selfpose_ros.recording.repair")
    assert rc == 2 and "usage:" in err and "PATH" in err


def test_predict_repair_reads_a_temporary_copy(killed, tmp_path):
    bag = killed["pristine"]
    rc, out, err = selfpose("predict", "--model", "prior_fit", "--bag", bag, "--out", tmp_path / "p.jsonl",
                            "--max-frames", "2", "--repair")
    assert rc == 0, (out, err)
    assert f"{bag} is incomplete; reading its repaired temporary copy" in err
    assert "2 frames" in out and (tmp_path / "p.jsonl").is_file()
    assert check_bag(bag).state == "incomplete"  # the original is never modified
