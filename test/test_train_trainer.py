"""The trainer on a tiny simulator bag: checkpoints, TensorBoard, exact resume, seeds, supervised mode, DDP."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from selfpose_ros.cli.main import main as selfpose_main
from selfpose_ros.model.checkpoint import load_checkpoint
from selfpose_ros.train.config import config_from_dict
from selfpose_ros.train.trainer import run_training

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trainbag") / "sim"
    assert selfpose_main(["sim", "--out", str(out), "--frames", "8", "--width", "160", "--height", "120",
                          "--categories", "mug,bowl", "--objects", "2", "--seed", "5", "--trajectory", "orbit",
                          "--rate", "1.5", "--no-progress"]) == 0
    return out


def tiny_config(bag: Path, out_dir: Path, **changes) -> dict:
    raw = {
        "name": "tiny",
        "data": {"bags": [str(bag)], "categories": ["mug", "bowl"], "crop_size": 64, "min_mask_pixels": 20,
                 "prior_vertices": 40, "videos": 2, "frames": 3, "chain_videos": 1, "stride": 1},
        "pseudo_labels": {"min_quality": 0.0},
        "model": {"image_size": 64, "width": 8, "projector_dims": [16, 16], "num_keypoints": 8},
        "optim": {"steps": 4, "warmup_steps": 1, "lr": 0.001},
        "loss_options": {"render_size": 16, "render_samples": 2, "cross_instance_k": 8},
        "run": {"out_dir": str(out_dir), "seed": 3, "threads": 1, "log_every": 1, "checkpoint_every": 2,
                "image_every": 2, "progress": False},
    }
    for key, value in changes.items():
        section, name = key.split("__")
        raw.setdefault(section, {})[name] = value
    return raw


def _weights(path: Path) -> dict:
    return load_checkpoint(path).weights


def test_training_writes_checkpoints_and_tensorboard_and_resumes_exactly(bag, tmp_path):
    straight = run_training(config_from_dict(tiny_config(bag, tmp_path / "a")), "test")
    assert straight.steps == 4 and straight.images_per_second > 0 and not straight.stopped_early
    assert {"label_coords", "mask", "ego_cycle", "traj", "vicreg", "cross_instance", "total"} <= set(
        straight.last_terms)
    ck = load_checkpoint(tmp_path / "a" / "model.pt")
    assert ck.step == 4 and ck.train_state is None and ck.command == "test"
    assert ck.train_config["optim"]["steps"] == 4 and ck.extra["data"]["pseudo_labels"] > 0
    assert set(ck.extra["typical_scale"]) <= {"mug", "bowl"} and ck.extra["typical_scale"]
    assert load_checkpoint(tmp_path / "a" / "last.pt").train_state is not None
    assert list((tmp_path / "a" / "tb").glob("events.out.tfevents.*"))

    # the same schedule stopped after 2 steps, then resumed: identical weights to the straight run
    part = run_training(config_from_dict(tiny_config(bag, tmp_path / "b", run__stop_after=2)), "test")
    assert part.steps == 2 and part.stopped_early and load_checkpoint(tmp_path / "b" / "model.pt").step == 2
    resumed = run_training(config_from_dict(tiny_config(bag, tmp_path / "b")), "test", resume=True)
    assert resumed.steps == 4
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]

    # another seed gives other weights (the seed is honoured, not ignored)
    run_training(config_from_dict(tiny_config(bag, tmp_path / "c", run__seed=4, optim__steps=4)), "test")
    c = _weights(tmp_path / "c" / "last.pt")
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_supervised_mode_reads_ground_truth_and_trains(bag, tmp_path):
    cfg = config_from_dict(tiny_config(bag, tmp_path, data__mode="supervised", optim__steps=2,
                                       losses__cross_instance=0.0))
    result = run_training(cfg, "test")
    assert result.steps == 2 and "label_coords" in result.last_terms and "cross_instance" not in result.last_terms
    assert "pseudo_labels" not in result.data_stats  # ground truth replaces the pseudo-labels


def test_cli_reports_config_errors_and_trains(bag, tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(bag, tmp_path / "run", optim__steps=1)))
    assert selfpose_main(["train", "--config", str(path), "--set", "optim.lr=-1"]) == 2
    assert "optim.lr must be > 0" in capsys.readouterr().err
    assert selfpose_main(["train", "--config", str(path), "--quiet"]) == 0
    assert "1 steps" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run" / "model.pt").command.startswith("selfpose train --config")


@pytest.mark.slow
def test_two_process_gloo_ddp_trains_a_few_steps(bag, tmp_path):
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(tiny_config(bag, tmp_path / "ddp", optim__steps=3, data__videos=1,
                                               data__chain_videos=1, run__device="cpu")))
    # gloo on loopback only (this machine also has eth0 and ifb interfaces), as DDS in every test
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "selfpose_ros.cli.main", "train", "--config", str(path), "--quiet"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "Signal 6 (SIGABRT)" in proc.stderr:
        # gloo's transport aborted a rank ("terminate called without an active exception") once in a clean-clone
        # CI run (stop 19), in the barrier after the pseudo-labels; one more launch, and it must train
        print("first launch: a rank aborted in gloo; launching again\n" + proc.stderr[-1500:])
        shutil.rmtree(tmp_path / "ddp", ignore_errors=True)
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ck = load_checkpoint(tmp_path / "ddp" / "model.pt")
    assert ck.step == 3 and ck.extra["world_size"] == 2
    assert all(torch.isfinite(v.float()).all() for v in ck.weights.values() if v.is_floating_point())


def test_init_from_a_checkpoint_switches_on_vertex_tables_and_a_learnt_tau(bag, tmp_path):
    run_training(config_from_dict(tiny_config(bag, tmp_path / "plain", optim__steps=2)), "test")
    init = load_checkpoint(tmp_path / "plain" / "model.pt")
    raw = tiny_config(bag, tmp_path / "rich", optim__steps=2, labels__label_vertex=0.5)
    raw["model"].update(vertex_table=True, learn_tau=True)
    run_training(config_from_dict(raw), "test", init=init)
    ck = load_checkpoint(tmp_path / "rich" / "model.pt")
    assert ck.model_config.vertex_table and ck.model_config.learn_tau
    tables = [v for k, v in ck.weights.items() if k.startswith("vertex_tables.")]
    assert len(tables) == 2 and any(float(t.float().abs().sum()) > 0 for t in tables)  # trained from zero
    model = ck.build_model()
    assert 0.01 <= float(model.tau) <= 1.0 and float(model.tau) != 0.1  # moved from its start, within range
