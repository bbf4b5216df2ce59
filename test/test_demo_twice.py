"""`selfpose demo` run twice in a row into the same --out: both exit 0, the second replaces the first's outputs
(the bag writer refused an existing outputs_bag before), and files the demo did not write are left alone."""

import subprocess
import sys

from ros_testing import REPO, require_rclpy
from rosbags.rosbag2 import Reader

require_rclpy()


OPTIONS = "--model prior_fit --frames 2 --width 160 --height 120 --rate 4 --timeout 120".split()


def _demo(out):
    cmd = [sys.executable, "-m", "selfpose_ros.cli.main", "demo", "--out", str(out), *OPTIONS]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_demo_runs_twice_into_the_same_directory(tmp_path):
    out = tmp_path / "demo_out"
    first = _demo(out)
    assert first.returncode == 0, first.stdout + first.stderr
    (out / "overlay_99.png").write_bytes(b"stale")  # an output name of the demo: replaced
    (out / "my_notes.txt").write_text("keep me")  # not the demo's: kept
    second = _demo(out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "replacing the previous demo output" in second.stdout
    assert not (out / "overlay_99.png").exists()
    assert (out / "my_notes.txt").read_text() == "keep me"
    with Reader(out / "outputs_bag") as bag:  # the second run's bag, complete and readable
        assert bag.message_count > 0
    assert (out / "pred.jsonl").read_text().strip()
