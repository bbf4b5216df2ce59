"""The adaptation loop end to end: sim_camera -> trajectory_recorder over DDS -> `selfpose train --init` -> predict.

The recorder's bags are split by duration (read back as one dataset by their base name; the last split is the
held-out validation bag), the training reads them with the shipped model as its start, and the adapted model
predicts a held-out simulated bag. The ground truth is published on DDS by sim_camera but never reaches the
recorded bags, and the training reader never asks a bag for it (checked on a simulated bag that has it).
"""

import json
import re
import signal
import subprocess
import sys

import pytest
import torch
from builders import simulated_bag
from ros_testing import REPO, NodeProcess, call_service, require_rclpy, spin_until

rclpy = require_rclpy()
pytestmark = [pytest.mark.dds, pytest.mark.slow]  # 42-74 s measured on the shared 2-core machine

from rosbags.rosbag2 import Reader  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from selfpose_ros.data.topics import GROUND_TRUTH  # noqa: E402
from selfpose_ros.train.bag_preflight import preflight_problems  # noqa: E402
from selfpose_ros.train.dataset import TrajectoryDataset  # noqa: E402

MODEL = REPO / "models" / "cse_6cat_rgbd.pt"
TRAIN = [sys.executable, "-m", "selfpose_ros.cli.main", "train", "--config", str(REPO / "config" / "train_adapt.yaml")]


def _record(tmp_path):
    """Record the simulated camera (ground truth published on DDS) until three split bags are closed."""
    sim = NodeProcess("selfpose_ros.ros.nodes.sim_camera", "--ros-args", "-r", "__ns:=/camera",
                      "--params-file", str(REPO / "config" / "sim_camera.yaml"), "-p", "width:=160", "-p",
                      "height:=120", "-p", "rate_hz:=6.0", "-p", "frames:=200", "-p", "categories:=[mug, bowl]",
                      "-p", "min_objects:=2", "-p", "max_objects:=2", "-p", "trajectory:=orbit", "-p", "seed:=3",
                      "-p", "realism:=target", "-p", "publish_ground_truth:=true", log_dir=tmp_path)
    rec = NodeProcess("selfpose_ros.ros.nodes.trajectory_recorder", "--ros-args", "-r", "__ns:=/camera",
                      "--params-file", str(REPO / "config" / "record.yaml"), "-p", f"output_dir:={tmp_path / 'bags'}",
                      "-p", "bag_prefix:=robot", "-p", "min_rotation_deg:=1.5", "-p", "min_translation:=0.01",
                      "-p", "max_bag_duration_s:=4.0", "-p", "min_free_space_mb:=10.0", "-p", "image_qos:=reliable",
                      log_dir=tmp_path)
    rclpy.init()
    node = rclpy.create_node("test_adapt_probe")
    state = {}
    try:
        client = node.create_client(Trigger, "/camera/trajectory_recorder/status")

        def enough():
            state.update(json.loads(call_service(node, client, Trigger.Request, rec).message))
            return len(state["closed_bags"]) >= 3 and state["keyframes_kept"] >= 12

        assert spin_until(node, enough, 90.0, rec), (state, sim.output(), rec.output())
    except BaseException:
        rec.stop(signal.SIGKILL)
        sim.stop(signal.SIGKILL)
        raise
    finally:
        node.destroy_node()
        rclpy.shutdown()
    assert rec.stop(signal.SIGINT) == 0, rec.output()
    sim.stop()
    return state


def test_record_adapt_predict(tmp_path, monkeypatch):
    state = _record(tmp_path)
    assert state["keyframes_kept"] >= 10
    bags = sorted((tmp_path / "bags").iterdir())
    base = re.sub(r"_\d+$", "", bags[0].name)
    assert len(bags) >= 2 and all(re.fullmatch(re.escape(base) + r"_\d+", b.name) for b in bags), bags
    for bag in bags:  # the camera topics, TF and the recorder's own: never the ground truth
        with Reader(bag) as reader:
            assert not [t for t in reader.topics if "ground_truth" in t], list(reader.topics)
    # a labelled simulated bag: the training reader and the preflight never ask for its ground-truth topic
    replay = simulated_bag(tmp_path / "replay", ["mug", "bowl"], frames=8, seed=11, width=160, height=120)
    asked = []
    real_messages = Reader.messages

    def spy(self, connections=(), *args, **kwargs):
        asked.extend(c.topic for c in (connections or self.connections))
        return real_messages(self, connections, *args, **kwargs)

    monkeypatch.setattr(Reader, "messages", spy)
    TrajectoryDataset([replay], categories=["bowl", "mug"], crop_size=64, mode="self_supervised")
    assert preflight_problems(replay, ["bowl", "mug"], 2) == []
    monkeypatch.undo()
    assert asked and GROUND_TRUTH not in asked and "/camera/segmentation" in asked

    out = tmp_path / "run"
    sets = [f"data.bags=[{tmp_path / 'bags' / base}]", f"data.replay=[{replay}]", "data.replay_share=0.3",
            "optim.steps=3", "optim.warmup_steps=1", "run.val_every=2", "run.val_batches=1", "run.checkpoint_every=3",
            "data.videos=2", "data.frames=3", "data.chain_videos=1", "data.min_keyframes=2", f"run.out_dir={out}",
            "data.min_mask_pixels=30", "data.min_feature_cells=2"]
    cmd = [*TRAIN, "--init", str(MODEL), *[x for s in sets for x in ("--set", s)], "--quiet"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "validation signal best" in run.stdout, run.stdout
    ck = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert ck["categories"] == ["bottle", "bowl", "camera", "can", "laptop", "mug"]  # from --init, not re-typed
    assert ck["extra"]["init"]["path"] == str(MODEL) and ck["extra"]["ema"] > 0
    assert ck["extra"]["data"]["val_bags"] == 1 and ck["extra"]["data"]["replay_groups"] >= 1
    assert ck["extra"]["validation"]["best_step"] in (0, 2, 3)  # step 0: the --init weights

    held_out = simulated_bag(tmp_path / "held_out", ["mug", "bowl"], frames=3, seed=21, width=160, height=120,
                             extra=["--realism", "target"])
    pred = tmp_path / "pred.jsonl"
    res = subprocess.run([sys.executable, "-m", "selfpose_ros.cli.main", "predict", "--model", str(out / "model.pt"),
                          "--bag", str(held_out), "--out", str(pred), "--threads", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    records = [json.loads(line) for line in pred.read_text().splitlines() if line.strip()]
    assert records and {r["category"] for r in records} <= {"mug", "bowl"}


def test_init_mismatch_is_one_line(tmp_path):
    replay = simulated_bag(tmp_path / "b", ["mug"], frames=4, seed=2, width=96, height=72)
    cmd = [*TRAIN, "--init", str(MODEL), "--set", f"data.bags=[{replay}]", "--set", "data.replay=[]",
           "--set", "data.replay_share=0.0", "--set", "model.width=8", "--set", "data.categories=[mug]"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.width 16 (checkpoint) != 8 (config)" in lines[0] and "categories" in lines[0]
