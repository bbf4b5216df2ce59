"""NOCS handle convention in the evaluator, handle_visible in JSON lines, size metrics, and the linear probe."""

import dataclasses

import numpy as np
import pytest

from selfpose_ros.eval.io_jsonl import ObjectRecord, parse_record
from selfpose_ros.eval.nocs_metrics import evaluate
from selfpose_ros.eval.size_metrics import extent_correlation, size_off_by_count, size_within_share
from selfpose_ros.geometry.rotations import rotation_about_y_np
from selfpose_ros.train.probe import ridge_fit, ridge_predict, run_probe

SIZE = np.array([0.12, 0.09, 0.08])


def _mug(R, handle=None, size=SIZE, frame=1, score=1.0):
    return ObjectRecord((frame, 0), "mug", 1, score, R, np.array([0.0, 0.0, 0.7]), size, 1.0, handle_visible=handle)


def test_a_mug_whose_handle_is_hidden_is_scored_as_symmetric_and_a_visible_one_is_not():
    yawed = rotation_about_y_np(np.radians(90.0))
    pred = [_mug(yawed)]
    seen = evaluate(pred, [_mug(np.eye(3), handle=True)])
    hidden = evaluate(pred, [_mug(np.eye(3), handle=False)])
    unknown = evaluate(pred, [_mug(np.eye(3))])
    assert hidden.pairs[0].rotation_deg == pytest.approx(0.0, abs=1e-6)
    assert seen.pairs[0].rotation_deg == pytest.approx(90.0) == unknown.pairs[0].rotation_deg
    assert hidden.ap["10deg5cm"]["mug"] == 1.0 and seen.ap["10deg5cm"]["mug"] == 0.0


def test_handle_visible_round_trips_through_json_lines_and_is_checked():
    rec = _mug(np.eye(3), handle=False)
    back = parse_record(rec.to_json(), "x", True, False)
    assert back.handle_visible is False and "handle_visible" not in dataclasses.replace(rec, handle_visible=None
                                                                                        ).to_json()
    with pytest.raises(ValueError, match="handle_visible"):
        parse_record({**rec.to_json(), "handle_visible": "yes"}, "x", True, False)


def test_size_share_and_extent_correlation_of_matched_pairs():
    rng = np.random.default_rng(0)
    gts, preds = [], []
    for f in range(30):
        size = np.array([0.06, 0.1, 0.06]) * rng.uniform(0.7, 1.4, 3)
        gts.append(ObjectRecord((f, 0), "camera", 1, 1.0, np.eye(3), np.zeros(3) + [0, 0, 1], size, 1.0))
        preds.append(ObjectRecord((f, 0), "camera", 1, 0.9, np.eye(3), np.zeros(3) + [0, 0, 1], size * 1.1, None))
    pairs = evaluate(preds, gts).pairs
    assert size_within_share(pairs)["all"] == 1.0
    r = extent_correlation(pairs)["camera"]
    assert r["mean"] == pytest.approx(1.0) and r["n"] == 30
    same = [dataclasses.replace(p, pred_size=np.array([0.06, 0.1, 0.06])) for p in pairs]  # one shape for all
    assert np.isnan(extent_correlation(same)["camera"]["mean"]) and size_within_share(same)["all"] < 1.0
    assert size_off_by_count(pairs)["all"] == 0
    wild = [dataclasses.replace(p, pred_size=p.gt_size * [1.0, 2.5, 1.0]) for p in pairs[:4]]
    tiny = [dataclasses.replace(p, pred_size=p.gt_size * [0.45, 1.0, 1.0]) for p in pairs[4:6]]
    assert size_off_by_count(wild + tiny + pairs[6:]) == {"camera": 6, "all": 6}


def test_ridge_probe_recovers_a_linear_viewpoint_code_and_fails_on_noise():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5))
    W = rng.normal(size=(5, 3))
    mu, sd, Wf = ridge_fit(X, X @ W, alpha=1e-6)
    assert np.allclose(ridge_predict(X, mu, sd, Wf), X @ W, atol=1e-4)

    def rotations(n):
        q = rng.normal(size=(n, 4))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        from selfpose_ros.geometry.rotations import quaternion_to_matrix_np
        return np.stack([quaternion_to_matrix_np(v) for v in q])

    R_tr, R_te = rotations(400), rotations(100)
    feats = lambda R: R[:, :, :2].transpose(0, 2, 1).reshape(len(R), 6)  # noqa: E731 - a viewpoint-aware embedding
    good = run_probe((feats(R_tr), R_tr, ["camera"] * 400), (feats(R_te), R_te, ["camera"] * 100), 0.1, 0, alpha=1e-3)
    noise = run_probe((rng.normal(size=(400, 6)), R_tr, ["camera"] * 400),
                      (rng.normal(size=(100, 6)), R_te, ["camera"] * 100), 0.1, 0)
    assert good.median_deg["camera"] < 1.0 < 60.0 < noise.median_deg["camera"] and good.train_crops == 40
