"""VOC all-point AP (hand-computed, ties, empty cases) and greedy matching."""

import math

import numpy as np
import pytest

from selfpose_ros.eval.ap import average_precision, precision_recall, voc_ap
from selfpose_ros.eval.matching import greedy_match


def test_hand_computed_ap():
    # 3 GT; ranked TP, FP, TP, FP -> P/R (1, 1/3), (1/2, 1/3), (2/3, 2/3), (1/2, 2/3).
    # Interpolated: 1 on (0, 1/3], 2/3 on (1/3, 2/3] -> AP = 1/3 + 2/9 = 5/9.
    ap = average_precision([0.9, 0.8, 0.7, 0.6], [True, False, True, False], num_gt=3)
    assert ap == pytest.approx(5 / 9, abs=1e-12)
    # Input order does not matter, only scores.
    assert average_precision([0.6, 0.7, 0.8, 0.9], [False, True, False, True], 3) == pytest.approx(5 / 9)
    assert average_precision([0.5, 0.4], [True, True], 2) == 1.0


def test_tied_scores_form_one_group():
    # One GT, a TP and a FP with equal scores: one PR point (P = 1/2, R = 1) whatever the order.
    assert average_precision([0.9, 0.9], [True, False], 1) == pytest.approx(0.5)
    assert average_precision([0.9, 0.9], [False, True], 1) == pytest.approx(0.5)
    p, r = precision_recall([0.9, 0.9, 0.5], [True, False, True], 2)
    np.testing.assert_allclose(p, [0.5, 2 / 3])
    np.testing.assert_allclose(r, [0.5, 1.0])
    # AP = 0.5 * 0.5 (interp. at R=.5 is max(.5, 2/3) = 2/3!) -> 0.5 * 2/3 + 0.5 * 2/3 = 2/3.
    assert average_precision([0.9, 0.9, 0.5], [True, False, True], 2) == pytest.approx(2 / 3)


def test_empty_cases():
    assert average_precision([], [], num_gt=4) == 0.0  # GT but no predictions
    assert math.isnan(average_precision([0.3], [False], num_gt=0))  # no GT: undefined
    assert math.isnan(average_precision([], [], num_gt=0))
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0
    with pytest.raises(ValueError, match="same length"):
        average_precision([0.1], [True, False], 1)
    with pytest.raises(ValueError, match="more true positives"):
        average_precision([0.1, 0.2], [True, True], 1)


def test_greedy_match_by_score_then_iou():
    iou = np.array([[0.6, 0.7],   # pred 0 (score 0.5)
                    [0.9, 0.2],   # pred 1 (score 0.9): first, takes GT 0
                    [0.3, 0.05]])  # pred 2 (score 0.7): GT 0 taken, GT 1 below threshold
    to_gt, to_pred = greedy_match(np.array([0.5, 0.9, 0.7]), iou, threshold=0.25)
    assert to_gt.tolist() == [1, 0, -1] and to_pred.tolist() == [1, 0]
    to_gt, _ = greedy_match(np.array([0.5, 0.9, 0.7]), iou, threshold=0.8)
    assert to_gt.tolist() == [-1, 0, -1]
    # Ties keep input order.
    to_gt, _ = greedy_match(np.array([0.5, 0.5]), np.array([[0.6], [0.9]]), 0.5)
    assert to_gt.tolist() == [0, -1]
    empty_p, empty_g = greedy_match(np.zeros(0), np.zeros((0, 3)), 0.5)
    assert empty_p.size == 0 and empty_g.tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="num_pred"):
        greedy_match(np.zeros(2), np.zeros((3, 1)), 0.5)
