"""Text tables and JSON summaries of an :class:`EvaluationReport`."""

from __future__ import annotations

import math

from selfpose_ros.eval.nocs_metrics import METRICS, EvaluationReport


def _pct(value: float) -> str:
    return "   n/a" if value is None or math.isnan(value) else f"{100.0 * value:6.1f}"


def format_table(report: EvaluationReport) -> str:
    """Return two tables: NOCS-style AP per class with mAP, and per-frame accuracy (percent)."""
    header = f"{'category':12s} {'#gt':>5s} {'#pred':>5s} " + " ".join(f"{m:>8s}" for m in METRICS)
    lines = ["AP (NOCS-style: VOC all-point AP per class pooled over frames, %; pose AP counts IoU>=0.1 pairs)",
             header]
    for c in report.categories:
        lines.append(f"{c:12s} {report.num_gt[c]:5d} {report.num_pred[c]:5d} "
                     + " ".join(f"{_pct(report.ap[m][c]):>8s}" for m in METRICS))
    lines.append(f"{'mAP':12s} {sum(report.num_gt.values()):5d} {sum(report.num_pred.values()):5d} "
                 + " ".join(f"{_pct(report.ap[m]['mean']):>8s}" for m in METRICS))
    lines += ["", "Per-frame accuracy (seed-paper style: % of GT objects whose IoU>=0.1 match meets the threshold)",
              header]
    for c in report.categories:
        lines.append(f"{c:12s} {report.num_gt[c]:5d} {report.num_pred[c]:5d} "
                     + " ".join(f"{_pct(report.accuracy[m][c]):>8s}" for m in METRICS))
    lines.append(f"{'all':12s} {sum(report.num_gt.values()):5d} {sum(report.num_pred.values()):5d} "
                 + " ".join(f"{_pct(report.accuracy[m]['all']):>8s}" for m in METRICS))
    return "\n".join(lines)


def report_to_json(report: EvaluationReport) -> dict:
    """Return a JSON-serialisable summary (fractions; NaN becomes None)."""
    def clean(d: dict) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}

    return {
        "categories": report.categories,
        "num_gt": report.num_gt,
        "num_pred": report.num_pred,
        "ap": {m: clean(report.ap[m]) for m in METRICS},
        "accuracy": {m: clean(report.accuracy[m]) for m in METRICS},
        "curves": {name: {"thresholds": th.tolist(),
                          "ap": {c: [None if math.isnan(x) else x for x in v.tolist()] for c, v in per.items()}}
                   for name, (th, per) in report.curves.items()},
        "num_matched_pairs": len(report.pairs),
        "min_visibility": report.config.min_visibility,
    }
