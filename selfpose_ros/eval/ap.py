"""Average precision, VOC all-point interpolation, with tied scores handled as one group.

Detections are ranked by descending score. Detections with *equal* scores cannot be ordered, so the
precision/recall curve gets a point only after each group of tied scores (all of them accepted at once);
the result therefore does not depend on the input order. AP is the area under the interpolated curve
``p_interp(r) = max_{r' >= r} p(r')`` summed over every recall change (PASCAL VOC 2010+ "all points",
as used by the NOCS evaluation).
"""

from __future__ import annotations

import numpy as np


def precision_recall(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (precision, recall) at the end of each tie group of detections ranked by score."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    is_tp = np.asarray(is_tp, dtype=bool).reshape(-1)
    if scores.shape != is_tp.shape:
        raise ValueError(f"scores and is_tp must have the same length, got {scores.shape} and {is_tp.shape}")
    if num_gt < 0:
        raise ValueError(f"num_gt must be >= 0, got {num_gt}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    if scores.size == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], is_tp[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(~tp)
    group_end = np.append(s[1:] != s[:-1], True)
    ctp, cfp = ctp[group_end], cfp[group_end]
    precision = ctp / (ctp + cfp)
    recall = ctp / num_gt if num_gt > 0 else np.full(ctp.shape, np.nan)
    return precision, recall


def voc_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """Return the all-point interpolated AP of a precision/recall curve (recall non-decreasing)."""
    mrec = np.concatenate(([0.0], np.asarray(recall, dtype=np.float64), [1.0]))
    mpre = np.concatenate(([0.0], np.asarray(precision, dtype=np.float64), [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    changed = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[changed + 1] - mrec[changed]) * mpre[changed + 1]))


def average_precision(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> float:
    """Return AP in [0, 1]; NaN when ``num_gt`` is 0 (undefined), 0 when there are GT but no detections."""
    if num_gt == 0:
        return float("nan")
    precision, recall = precision_recall(scores, is_tp, num_gt)
    if precision.size == 0:
        return 0.0
    if int(np.asarray(is_tp, dtype=bool).sum()) > num_gt:
        raise ValueError(f"more true positives than ground-truth objects ({num_gt})")
    return voc_ap(precision, recall)
