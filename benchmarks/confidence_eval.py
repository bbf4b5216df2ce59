"""How well a back-end's confidence ranks right estimates above wrong ones, and candidate scores beside it.

Every held-out bag (data/sim/heldout_<level>, see benchmarks/train_eval.py) is predicted as ``selfpose predict``
does, the estimates are matched to the ground truth as the evaluator does (NOCS pose IoU), and a matched
estimate counts as right at 10deg5cm (symmetry-aware). Per candidate score, printed: the area under the ROC
curve (0.5: chance), the median and the share at or above the node's default ``min_confidence`` of 0.2.
Candidates use the learned back-end's ``extras`` (``fitness``, ``cycle_confidence``); for other back-ends only
the reported confidence is scored.

    python benchmarks/confidence_eval.py [--model models/cse_6cat_rgbd.pt] [--realism default] [--max-frames 10]

The measurement behind docs/training.md, "Confidence".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _heldout import list_bags, shift_record  # noqa: E402
from train_eval import ground_truth, make_method  # noqa: E402

from selfpose_ros.cli.predict_cmd import predict_bag  # noqa: E402
from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.eval.nocs_metrics import EvalConfig, evaluate  # noqa: E402

CANDIDATES = {
    "reported confidence": lambda f: f["confidence"],
    "RANSAC inliers x cycle confidence": lambda f: f["inlier_ratio"] * f["cycle_confidence"],
    "cycle confidence": lambda f: f["cycle_confidence"],
    "RANSAC inlier ratio": lambda f: f["inlier_ratio"],
    "fitness": lambda f: f["fitness"],
    "fitness x RANSAC inlier ratio": lambda f: f["fitness"] * f["inlier_ratio"],
}


def roc_auc(scores: np.ndarray, right: np.ndarray) -> float:
    """P(a right estimate scores above a wrong one), ties counting half; NaN without both kinds."""
    pos, neg = scores[right], scores[~right]
    if not len(pos) or not len(neg):
        return float("nan")
    above = (pos[:, None] > neg[None]).mean()
    ties = (pos[:, None] == neg[None]).mean()
    return float(above + 0.5 * ties)


class _Recorder:
    """An estimator wrapper that keeps each estimate's features, keyed as the matched pairs can find them."""

    def __init__(self, est) -> None:
        self.est, self.features, self.bag = est, {}, 0

    def __getattr__(self, name: str):
        return getattr(self.est, name)

    def estimate(self, frame, instances):
        results = self.est.estimate(frame, instances)
        for r in results:
            e = r.estimate
            if e is not None:
                key = (self.bag, e.category, round(float(e.confidence), 9), round(float(e.t[2]), 6))
                self.features[key] = {"confidence": float(e.confidence), "inlier_ratio": float(e.inlier_ratio),
                                      **{k: e.extras.get(k) for k in ("fitness", "cycle_confidence")}}
        return results


def main() -> int:
    """Predict the held-out bags, match, and print each candidate's ranking quality."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "models" / "cse_6cat_rgbd.pt"))
    ap.add_argument("--realism", default="default", choices=("none", "default", "heavy"))
    ap.add_argument("--bags", type=Path, default=None, help="default data/sim/heldout_<realism>")
    ap.add_argument("--max-frames", type=int, default=10, help="frames per bag")
    ap.add_argument("--min-visibility", type=float, default=0.1)
    args = ap.parse_args()

    bags = list_bags(args.bags or REPO / "data" / "sim" / f"heldout_{args.realism}")
    cats = list(CATEGORIES)
    rec = _Recorder(make_method(args.model, cats, "cpu", False))
    preds, gts, t_of = [], [], {}
    for k, bag in enumerate(bags):
        rec.bag = k
        recs, _ = predict_bag(rec, bag, cats, min_mask_pixels=50, use_up=True, max_frames=args.max_frames)
        for r in recs:
            s = shift_record(r, k)
            t_of[(s.frame, s.category, round(float(s.score), 9))] = (k, round(float(r.t[2]), 6))
            preds.append(s)
        gts += [shift_record(r, k) for r in ground_truth(bag, cats, args.max_frames)]
    report = evaluate(preds, gts, EvalConfig(min_visibility=args.min_visibility))
    rows, right = [], []
    for p in report.pairs:
        k, z = t_of[(p.frame, p.category, round(float(p.score), 9))]
        rows.append(rec.features[(k, p.category, round(float(p.score), 9), z)])
        right.append(p.rotation_deg <= 10.0 and p.translation_cm <= 5.0)
    right_a = np.asarray(right, bool)
    print(f"{args.model}, realism {args.realism}: {len(rows)} matched estimates, {100 * right_a.mean():.0f} % right "
          f"at 10deg5cm")
    print(f"{'score':36s} {'AUC':>6s} {'median':>7s} {'>= 0.2':>7s}  estimates")
    for name, fn in CANDIDATES.items():
        s = np.full(len(rows), np.nan)
        for i, f in enumerate(rows):
            try:
                s[i] = fn(f)
            except TypeError:  # a feature this estimate does not have (e.g. no fitness after PnP)
                pass
        ok = np.isfinite(s)
        if not ok.any():
            continue
        s, r = s[ok], right_a[ok]
        print(f"{name:36s} {roc_auc(s, r):6.3f} {np.median(s):7.2f} {100 * np.mean(s >= 0.2):6.0f}%  {ok.sum()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
