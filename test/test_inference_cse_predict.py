"""``selfpose predict``: every frame of a bag, never its ground truth, output scored by ``selfpose eval``."""

from pathlib import Path

import numpy as np
import pytest
from builders import simulated_bag, tiny_checkpoint
from rosbags.rosbag2 import Reader

from selfpose_ros.cli.main import main as selfpose_main
from selfpose_ros.eval.io_jsonl import read_predictions

FRAMES = 3


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    return simulated_bag(tmp_path_factory.mktemp("predictbag") / "sim", ("bowl", "can"), frames=FRAMES, seed=8,
                         extra=("--objects", "2"))


def test_prior_fit_predictions_are_scored_by_eval_and_ground_truth_is_never_read(bag, tmp_path, monkeypatch, capsys):
    topics: list[str] = []
    original = Reader.messages

    def recording(self, connections=(), *args, **kwargs):
        topics.extend(c.topic for c in connections)
        return original(self, connections, *args, **kwargs)

    monkeypatch.setattr(Reader, "messages", recording)
    preds = tmp_path / "preds.jsonl"
    assert selfpose_main(["predict", "--model", "prior_fit", "--bag", str(bag), "--out", str(preds),
                          "--categories", "bowl,can", "--min-mask-pixels", "30"]) == 0
    assert "/camera/color/image_raw" in topics and "/ground_truth/objects" not in topics
    records = read_predictions(preds)
    assert records and {r.category for r in records} <= {"bowl", "can"}
    assert len({r.frame for r in records}) == FRAMES
    assert f"{FRAMES} frames" in capsys.readouterr().out
    monkeypatch.setattr(Reader, "messages", original)
    assert selfpose_main(["eval", "--pred", str(preds), "--gt", str(bag)]) == 0
    table = capsys.readouterr().out
    assert "mAP" in table and "bowl" in table


def test_checkpoint_predictions_use_the_model_categories_and_bad_input_fails(bag, tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "m.pt", ("bowl", "can"))[2]
    preds = tmp_path / "cse.jsonl"
    assert selfpose_main(["predict", "--model", str(ckpt), "--bag", str(bag), "--out", str(preds),
                          "--min-inliers", "5", "--max-frames", "2"]) == 0
    out = capsys.readouterr().out
    assert "cse (" in out and "2 frames" in out and preds.is_file()
    assert all(r.category in ("bowl", "can") for r in read_predictions(preds))
    assert selfpose_main(["predict", "--model", str(ckpt), "--bag", str(bag), "--out", str(preds),
                          "--categories", "mug"]) == 2
    assert "were requested" in capsys.readouterr().err
    assert selfpose_main(["predict", "--model", "prior_fit", "--bag", str(tmp_path / "nobag"),
                          "--out", str(preds)]) == 2


def test_mask_reach_reaches_the_estimates_and_a_bad_one_is_refused(tmp_path, capsys):
    eroding = simulated_bag(tmp_path / "target", ("bowl", "can", "mug"), frames=2, seed=3, width=240, height=180,
                            extra=("--objects", "3", "--realism", "target"))  # a segmenter that erodes masks
    sizes = {}
    for reach in (0, 6):
        preds = tmp_path / f"reach{reach}.jsonl"
        assert selfpose_main(["predict", "--model", "prior_fit", "--bag", str(eroding), "--out", str(preds),
                              "--mask-reach-px", str(reach)]) == 0
        sizes[reach] = {(r.frame, r.category, r.instance): np.prod(r.size) for r in read_predictions(preds)}
    both = sizes[0].keys() & sizes[6].keys()
    assert len(both) >= 3, sizes
    grew = [sizes[6][k] > sizes[0][k] * 1.01 for k in both]
    assert any(grew), sizes  # the option reaches the surface selection: eroded objects get their edges back
    capsys.readouterr()
    assert selfpose_main(["predict", "--model", "prior_fit", "--bag", str(eroding), "--out", str(tmp_path / "x.jsonl"),
                          "--mask-reach-px", "-1"]) == 2
    assert "mask_reach_px must be in [0, 32]" in capsys.readouterr().err
