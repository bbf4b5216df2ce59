"""evaluate(): mAP and per-frame accuracy on a hand-checked example, NOCS pose filter, visibility, empties."""

import math

import numpy as np
import pytest

from selfpose_ros.eval.io_jsonl import ObjectRecord
from selfpose_ros.eval.nocs_metrics import METRICS, EvalConfig, evaluate
from selfpose_ros.eval.report_table import format_table, report_to_json
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np, rotation_about_y_np

R1 = quaternion_to_matrix_np(np.array([0.1, 0.3, -0.2, 0.9]))
SIZE = np.array([0.1, 0.08, 0.12])


def rec(frame, cat, score=1.0, t=(0.0, 0.0, 0.8), R=R1, vis=1.0, size=SIZE):
    return ObjectRecord((frame, 0), cat, 1, score, np.asarray(R), np.asarray(t, float), np.asarray(size), vis)


def example():
    gt = [rec(1, "camera"), rec(2, "camera", t=(0.2, 0.0, 0.9)), rec(1, "mug", t=(-0.2, 0, 1.0))]
    pred = [
        rec(1, "camera", score=0.9),  # exact: TP everywhere
        rec(1, "camera", score=0.8, t=(0.001, 0.0, 0.8)),  # duplicate: FP
        # 3 cm off along the box's z (extent 0.12): IoU = 0.75 / 1.25 = 0.6, TP at 5 cm but not at 2 cm.
        rec(1, "mug", score=0.5, t=np.array([-0.2, 0, 1.0]) + 0.03 * R1[:, 2]),
        rec(3, "laptop", score=0.7, t=(0, 0, 1)),  # a class with no GT: AP undefined
    ]
    return pred, gt


def test_hand_checked_map_and_accuracy():
    report = evaluate(*example())
    assert report.categories == ["camera", "laptop", "mug"]
    assert report.num_gt == {"camera": 2, "laptop": 0, "mug": 1}
    # camera IoU: ranked TP (R=1/2, P=1), FP -> AP = 1/2. mug: 1. laptop: NaN, not in the mean.
    assert report.ap["IoU25"]["camera"] == pytest.approx(0.5)
    assert report.ap["IoU50"]["mug"] == pytest.approx(1.0)
    assert math.isnan(report.ap["IoU25"]["laptop"])
    assert report.ap["IoU25"]["mean"] == pytest.approx(0.75)
    # Pose (NOCS filter): only IoU>=0.1 pairs: camera has one exact pair -> AP 1; mug pair is 3 cm off.
    assert report.ap["5deg2cm"]["camera"] == pytest.approx(1.0)
    assert report.ap["5deg2cm"]["mug"] == 0.0 and report.ap["5deg5cm"]["mug"] == 1.0
    assert report.ap["5deg2cm"]["mean"] == pytest.approx(0.5)
    # Per-frame accuracy: camera 1 of 2 GT, mug 1 of 1 at IoU50 but 0 at 2 cm; pooled over 3 GT objects.
    assert report.accuracy["IoU50"]["camera"] == pytest.approx(0.5)
    assert report.accuracy["IoU50"]["all"] == pytest.approx(2 / 3)
    assert report.accuracy["10deg2cm"]["all"] == pytest.approx(1 / 3)
    assert report.accuracy["10deg5cm"]["all"] == pytest.approx(2 / 3)
    assert len(report.pairs) == 2
    assert sorted(p.iou for p in report.pairs) == pytest.approx([0.6, 1.0])
    table = format_table(report)
    assert "mAP" in table and "Per-frame accuracy" in table and "n/a" in table
    js = report_to_json(report)
    assert js["ap"]["IoU25"]["laptop"] is None and js["ap"]["IoU25"]["mean"] == pytest.approx(0.75)


def test_without_nocs_filter_unmatched_count():
    report = evaluate(*example(), EvalConfig(nocs_pose_filter=False))
    # camera: ranked TP (0.9), FP (0.8, unmatched); 2 GT -> AP = 1/2.
    assert report.ap["5deg2cm"]["camera"] == pytest.approx(0.5)


def test_curves_are_monotone_and_consistent():
    report = evaluate(*example())
    th, per = report.curves["rotation"]
    assert th[0] == 0 and th[-1] == 60 and set(per) == {"camera", "mug"}
    assert np.all(np.diff(per["camera"]) >= 0)
    th, per = report.curves["iou"]
    assert np.all(np.diff(per["camera"]) <= 0)
    assert per["mug"][list(th).index(0.59)] == 1.0 and per["mug"][list(th).index(0.61)] == 0.0
    _, per = report.curves["translation"]
    assert per["mug"][0] == 0.0 and per["mug"][-1] == 1.0


def test_min_visibility_ignores_gt_and_their_matches():
    pred, gt = example()
    gt[1] = rec(2, "camera", t=(0.2, 0.0, 0.9), vis=0.1)
    pred.append(rec(2, "camera", score=0.95, t=(0.2, 0.0, 0.9)))
    plain = evaluate(pred, gt)
    assert plain.ap["IoU25"]["camera"] == pytest.approx(1.0)  # both GT found, the FP ranks last
    ignoring = evaluate(pred, gt, EvalConfig(min_visibility=0.5))
    assert ignoring.num_gt["camera"] == 1
    assert ignoring.ap["IoU25"]["camera"] == pytest.approx(1.0)  # match to the ignored GT is not a FP
    assert ignoring.accuracy["IoU25"]["camera"] == pytest.approx(1.0)


def test_continuous_symmetry_in_evaluation():
    gt = [rec(1, "bottle", size=np.array([0.07, 0.2, 0.07]))]
    turned = R1 @ rotation_about_y_np(1.0)
    report = evaluate([rec(1, "bottle", R=turned, size=np.array([0.07, 0.2, 0.07]))], gt)
    assert report.pairs[0].rotation_deg == pytest.approx(0.0, abs=1e-6)
    assert report.pairs[0].iou == pytest.approx(1.0, abs=1e-5)
    assert all(report.ap[m]["bottle"] == 1.0 for m in METRICS)
    camera = evaluate([rec(1, "camera", R=turned)], [rec(1, "camera")])
    assert camera.pairs[0].rotation_deg == pytest.approx(math.degrees(1.0))


def test_empty_inputs():
    _, gt = example()
    none = evaluate([], gt)
    assert all(none.ap[m]["mean"] == 0.0 for m in METRICS)
    assert none.accuracy["IoU25"]["all"] == 0.0
    nothing = evaluate([], [])
    assert nothing.categories == [] and math.isnan(nothing.ap["IoU25"]["mean"])
    only_pred = evaluate([rec(1, "mug")], [])
    assert math.isnan(only_pred.ap["5deg5cm"]["mean"]) and only_pred.num_pred == {"mug": 1}
