"""NOCS-style evaluation: per-class AP (mAP = class mean) and per-frame accuracy at pose/IoU thresholds.

Definitions (docs/evaluation.md has the full text):
- Predictions and ground truth are grouped by (frame, category). Within a group, IoU is the exact oriented
  3D-box IoU, maximised over the category's symmetry; rotation error is symmetry-aware (eval/errors.py).
- IoU AP at threshold x: greedy matching by score at IoU >= x (separately for each x); a prediction is a
  true positive if matched. AP is VOC all-point AP per class pooled over all frames.
- Pose AP at (d deg, c cm): as NOCS, pairs are first matched at IoU >= 0.1 (``pose_iou_threshold``); only
  those pairs take part (``nocs_pose_filter`` True: unmatched predictions and GT are left out, as in the
  NOCS script), and a pair is a true positive if rotation error <= d and translation error <= c.
  With ``nocs_pose_filter`` False unmatched predictions count as false positives and every GT counts.
- mAP: mean over classes with at least one (non-ignored) ground-truth object.
- Per-frame accuracy (the seed paper's tester): the fraction of GT objects whose prediction matched at
  IoU >= 0.1 meets the threshold (IoU >= x, or rotation <= d and translation <= c); unmatched GT fail.
- A mug whose ground truth has ``handle_visible`` False is scored as symmetric about +Y (IoU and rotation), as
  in NOCS: nothing in such a view fixes its yaw.
- GT with ``visibility < min_visibility`` are ignored: predictions matched to them are neither TP nor FP,
  and they are not counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.conventions import HANDLE_CATEGORIES
from selfpose_ros.eval.ap import average_precision
from selfpose_ros.eval.box_iou import OrientedBox, symmetric_box_iou
from selfpose_ros.eval.errors import error_symmetry, rotation_error_deg, translation_error_cm
from selfpose_ros.eval.io_jsonl import ObjectRecord
from selfpose_ros.eval.matching import greedy_match

#: Named thresholds of the summary table: IoU (fraction) or (degrees, centimetres).
IOU_METRICS: dict[str, float] = {"IoU25": 0.25, "IoU50": 0.50}
POSE_METRICS: dict[str, tuple[float, float]] = {
    "5deg2cm": (5.0, 2.0), "5deg5cm": (5.0, 5.0), "10deg2cm": (10.0, 2.0), "10deg5cm": (10.0, 5.0)}
METRICS: tuple[str, ...] = tuple(IOU_METRICS) + tuple(POSE_METRICS)


@dataclass(frozen=True)
class EvalConfig:
    """Thresholds and options of the evaluation."""

    iou_curve: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 1.0, 101), 2))
    degree_curve: tuple[float, ...] = tuple(float(d) for d in range(61))
    cm_curve: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 10.0, 101), 1))
    pose_iou_threshold: float = 0.1
    min_visibility: float = 0.0
    nocs_pose_filter: bool = True
    symmetry_overrides: dict[str, str] = field(default_factory=dict)


@dataclass
class MatchedPair:
    """A prediction matched to a GT object at the pose IoU threshold, with its errors."""

    frame: tuple[int, int]
    category: str
    score: float
    iou: float
    rotation_deg: float
    translation_cm: float
    pred_size: np.ndarray | None = None  #: (3,) metres
    gt_size: np.ndarray | None = None  #: (3,) metres


@dataclass
class EvaluationReport:
    """Everything the evaluation computed; values are fractions in [0, 1] (NaN = undefined)."""

    categories: list[str]
    num_gt: dict[str, int]
    num_pred: dict[str, int]
    ap: dict[str, dict[str, float]]  # metric -> category (and "mean") -> AP
    accuracy: dict[str, dict[str, float]]  # metric -> category (and "all") -> fraction of GT objects
    curves: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]  # "iou"/"rotation"/"translation"
    pairs: list[MatchedPair]
    config: EvalConfig


@dataclass
class _ClassData:
    num_gt: int = 0
    num_pred: int = 0
    iou_scores: list[float] = field(default_factory=list)  # per counted prediction, per IoU threshold
    iou_tp: list[np.ndarray] = field(default_factory=list)
    iou_counted: list[np.ndarray] = field(default_factory=list)
    pose_scores: list[float] = field(default_factory=list)
    pose_matched: list[bool] = field(default_factory=list)
    pose_rot: list[float] = field(default_factory=list)
    pose_trans: list[float] = field(default_factory=list)
    pose_num_gt: int = 0
    gt_iou: list[float] = field(default_factory=list)  # per counted GT: its matched pair's values
    gt_rot: list[float] = field(default_factory=list)
    gt_trans: list[float] = field(default_factory=list)


def _box(rec: ObjectRecord) -> OrientedBox:
    return OrientedBox(rec.R, rec.t, rec.size)


def _group(records: list[ObjectRecord]) -> dict[tuple, list[ObjectRecord]]:
    groups: dict[tuple, list[ObjectRecord]] = defaultdict(list)
    for rec in records:
        groups[(rec.frame, rec.category)].append(rec)
    return groups


def _evaluate_group(preds: list[ObjectRecord], gts: list[ObjectRecord], category: str, cfg: EvalConfig,
                    data: _ClassData, pairs: list[MatchedPair]) -> None:
    sym = error_symmetry(category, cfg.symmetry_overrides.get(category))
    scores = np.array([p.score for p in preds], dtype=np.float64)
    ignored = np.array([g.visibility is not None and g.visibility < cfg.min_visibility for g in gts], bool)
    P, G = len(preds), len(gts)
    iou = np.zeros((P, G))
    rot = np.zeros((P, G))
    trans = np.zeros((P, G))
    # NOCS convention: a mug whose ground truth says its handle is hidden is scored as symmetric about +Y
    gt_sym = ["continuous_y" if g.handle_visible is False and category in HANDLE_CATEGORIES else sym for g in gts]
    for i, p in enumerate(preds):
        for j, g in enumerate(gts):
            iou[i, j] = symmetric_box_iou(_box(p), _box(g), gt_sym[j])
            rot[i, j] = rotation_error_deg(p.R, g.R, gt_sym[j])
            trans[i, j] = translation_error_cm(p.t, g.t)
    data.num_gt += int((~ignored).sum())
    data.num_pred += P
    # IoU AP: one greedy matching per threshold.
    tp = np.zeros((P, len(cfg.iou_curve)), dtype=bool)
    counted = np.ones((P, len(cfg.iou_curve)), dtype=bool)
    for k, thr in enumerate(cfg.iou_curve):
        to_gt, _ = greedy_match(scores, iou, thr)
        matched = to_gt >= 0
        hit_ignored = np.array([g >= 0 and bool(ignored[g]) for g in to_gt], dtype=bool)
        tp[:, k] = matched & ~hit_ignored
        counted[:, k] = ~hit_ignored
    for i in range(P):
        data.iou_scores.append(float(scores[i]))
        data.iou_tp.append(tp[i])
        data.iou_counted.append(counted[i])
    # Pose: pairs matched at the pose IoU threshold.
    to_gt, gt_to_pred = greedy_match(scores, iou, cfg.pose_iou_threshold)
    for i in range(P):
        g = int(to_gt[i])
        if g >= 0 and ignored[g]:
            continue
        if g < 0 and cfg.nocs_pose_filter:
            continue
        data.pose_scores.append(float(scores[i]))
        data.pose_matched.append(g >= 0)
        data.pose_rot.append(float(rot[i, g]) if g >= 0 else np.inf)
        data.pose_trans.append(float(trans[i, g]) if g >= 0 else np.inf)
        if g >= 0:
            pairs.append(MatchedPair(preds[i].frame, category, float(scores[i]), float(iou[i, g]),
                                     float(rot[i, g]), float(trans[i, g]), np.asarray(preds[i].size),
                                     np.asarray(gts[g].size)))
    for j in range(G):
        if ignored[j]:
            continue
        p = int(gt_to_pred[j])
        data.pose_num_gt += int(p >= 0 or not cfg.nocs_pose_filter)
        data.gt_iou.append(float(iou[p, j]) if p >= 0 else 0.0)
        data.gt_rot.append(float(rot[p, j]) if p >= 0 else np.inf)
        data.gt_trans.append(float(trans[p, j]) if p >= 0 else np.inf)


def _class_iou_ap(d: _ClassData, k: int) -> float:
    if d.num_gt == 0:
        return float("nan")
    if not d.iou_scores:
        return 0.0
    counted = np.array([c[k] for c in d.iou_counted], dtype=bool)
    scores = np.array(d.iou_scores)[counted]
    tp = np.array([t[k] for t in d.iou_tp], dtype=bool)[counted]
    return average_precision(scores, tp, d.num_gt)


def _class_pose_ap(d: _ClassData, max_deg: float, max_cm: float) -> float:
    if d.num_gt == 0:
        return float("nan")
    if d.pose_num_gt == 0 or not d.pose_scores:
        return 0.0
    tp = np.array(d.pose_matched) & (np.array(d.pose_rot) <= max_deg) & (np.array(d.pose_trans) <= max_cm)
    return average_precision(np.array(d.pose_scores), tp, d.pose_num_gt)


def _nanmean(values: list[float]) -> float:
    arr = np.array([v for v in values if not np.isnan(v)], dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")


def evaluate(predictions: list[ObjectRecord], ground_truth: list[ObjectRecord],
             config: EvalConfig | None = None) -> EvaluationReport:
    """Compute NOCS-style AP / mAP, per-frame accuracy, curves and matched-pair errors."""
    cfg = config or EvalConfig()
    for name, thr in IOU_METRICS.items():
        if thr not in cfg.iou_curve:
            raise ValueError(f"iou_curve must contain {thr} (needed for {name})")
    pred_groups, gt_groups = _group(predictions), _group(ground_truth)
    data: dict[str, _ClassData] = defaultdict(_ClassData)
    pairs: list[MatchedPair] = []
    for key in sorted(set(pred_groups) | set(gt_groups)):
        _evaluate_group(pred_groups.get(key, []), gt_groups.get(key, []), key[1], cfg, data[key[1]], pairs)
    categories = sorted(data)
    evaluated = [c for c in categories if data[c].num_gt > 0]
    ap: dict[str, dict[str, float]] = {}
    acc: dict[str, dict[str, float]] = {}
    for name, thr in IOU_METRICS.items():
        k = cfg.iou_curve.index(thr)
        ap[name] = {c: _class_iou_ap(data[c], k) for c in categories}
        acc[name] = {c: _accuracy(data[c].gt_iou, lambda v, thr=thr: v >= thr) for c in categories}
    for name, (deg, cm) in POSE_METRICS.items():
        ap[name] = {c: _class_pose_ap(data[c], deg, cm) for c in categories}
        acc[name] = {c: _pose_accuracy(data[c], deg, cm) for c in categories}
    for name in METRICS:
        ap[name]["mean"] = _nanmean([ap[name][c] for c in evaluated])
        acc[name]["all"] = _pooled_accuracy(data, evaluated, name)
    curves = {
        "iou": (np.array(cfg.iou_curve), {c: np.array([_class_iou_ap(data[c], k) for k in
                                                       range(len(cfg.iou_curve))]) for c in evaluated}),
        "rotation": (np.array(cfg.degree_curve), {c: np.array([_class_pose_ap(data[c], d, np.inf)
                                                               for d in cfg.degree_curve]) for c in evaluated}),
        "translation": (np.array(cfg.cm_curve), {c: np.array([_class_pose_ap(data[c], np.inf, x)
                                                              for x in cfg.cm_curve]) for c in evaluated}),
    }
    return EvaluationReport(categories, {c: data[c].num_gt for c in categories},
                            {c: data[c].num_pred for c in categories}, ap, acc, curves, pairs, cfg)


def _accuracy(values: list[float], ok) -> float:
    return float(np.mean([ok(v) for v in values])) if values else float("nan")


def _pose_accuracy(d: _ClassData, deg: float, cm: float) -> float:
    if not d.gt_rot:
        return float("nan")
    return float(np.mean((np.array(d.gt_rot) <= deg) & (np.array(d.gt_trans) <= cm)))


def _pooled_accuracy(data: dict[str, _ClassData], categories: list[str], name: str) -> float:
    hits, total = 0.0, 0
    for c in categories:
        d = data[c]
        if name in IOU_METRICS:
            ok = np.array(d.gt_iou) >= IOU_METRICS[name]
        else:
            deg, cm = POSE_METRICS[name]
            ok = (np.array(d.gt_rot) <= deg) & (np.array(d.gt_trans) <= cm)
        hits += float(ok.sum())
        total += len(d.gt_iou)
    return hits / total if total else float("nan")
