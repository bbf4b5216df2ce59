"""``selfpose predict --ego-bias``: the pipeline's ego-motion debiasing through the bag's TF, offline."""

from __future__ import annotations

import numpy as np
import pytest
from builders import simulated_bag

from selfpose_ros.cli.main import main as selfpose_main
from selfpose_ros.eval.io_jsonl import read_predictions


@pytest.mark.slow
def test_predict_ego_bias_moves_estimates_after_the_first_view(tmp_path, capsys):
    bag = simulated_bag(tmp_path / "bag", ("bowl", "can"), frames=8, seed=3, width=240, height=180,
                        extra=["--rate", "1", "--realism", "heavy"])  # 1 Hz: the rays turn past 30 degrees
    plain, debiased = tmp_path / "plain.jsonl", tmp_path / "debiased.jsonl"
    common = ["predict", "--model", "prior_fit", "--bag", str(bag), "--min-inliers", "15"]
    assert selfpose_main([*common, "--out", str(plain)]) == 0
    assert selfpose_main([*common, "--out", str(debiased), "--ego-bias", "--fusion-frame", "map"]) == 0
    before = {(r.frame, r.category, r.instance): r for r in read_predictions(plain)}
    after = {(r.frame, r.category, r.instance): r for r in read_predictions(debiased)}
    assert before.keys() == after.keys() and len(after) >= 6
    first_frame = min(key[0] for key in after)
    moved = []
    for key, r in after.items():
        shift = np.linalg.norm(r.t - before[key].t)
        if key[0] == first_frame:
            assert shift < 1e-9  # one view of each object says nothing
        else:
            moved.append(shift)
            # the move is along the ray: the estimate's direction from the camera is kept
            u, v = r.t / np.linalg.norm(r.t), before[key].t / np.linalg.norm(before[key].t)
            assert np.degrees(np.arccos(np.clip(u @ v, -1, 1))) < 0.01
        np.testing.assert_allclose(r.R, before[key].R)
        np.testing.assert_allclose(r.size, before[key].size)
    assert max(moved) > 1e-4
    capsys.readouterr()
    odom = ["--ego-bias", "--fusion-frame", "odom", "--max-frames", "2"]
    assert selfpose_main([*common, "--out", str(plain), *odom]) == 0
    assert "no_ego_bias_pose" in capsys.readouterr().out  # no such frame in the bag: said, estimates kept
    assert len(read_predictions(plain)) >= 2
