"""Greedy matching of predictions to ground truth within one frame and category (the NOCS scheme)."""

from __future__ import annotations

import numpy as np


def greedy_match(scores: np.ndarray, iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Match predictions to GT greedily; return (gt index per prediction, prediction index per GT), -1 = none.

    Predictions are visited by descending score (ties keep input order); each takes the still unmatched GT
    with the highest IoU, provided that IoU is >= ``threshold``. ``iou`` is (num_pred, num_gt).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    iou = np.asarray(iou, dtype=np.float64)
    if iou.ndim != 2 or iou.shape[0] != scores.size:
        raise ValueError(f"iou must be (num_pred, num_gt) with num_pred = {scores.size}, got {iou.shape}")
    num_pred, num_gt = iou.shape
    pred_to_gt = np.full(num_pred, -1, dtype=np.int64)
    gt_to_pred = np.full(num_gt, -1, dtype=np.int64)
    if num_pred == 0 or num_gt == 0:
        return pred_to_gt, gt_to_pred
    for p in np.argsort(-scores, kind="stable"):
        cand = np.where(gt_to_pred < 0, iou[p], -np.inf)
        g = int(np.argmax(cand))
        if cand[g] >= threshold:
            pred_to_gt[p] = g
            gt_to_pred[g] = p
    return pred_to_gt, gt_to_pred
