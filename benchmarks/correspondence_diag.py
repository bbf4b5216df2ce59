#!/usr/bin/env python3
"""Diagnosis: where a CSE checkpoint's rotation goes wrong, per category, against the bags' ground truth.

For every estimated object it compares three rotations with the ground truth (error in degrees, every mug's
handle counted, no symmetry beyond the category's continuous one):

- ``raw``: RANSAC-Umeyama on the dense correspondences alone (the solver's first step);
- ``head``: the model's pose head (a rotation regressed from the global feature; inference does not use it);
- ``output``: what the back-end publishes (after ICP, the per-axis sizing and the upright snap).

It also checks the correspondences themselves: per crop, the correlation of the predicted canonical points
``q`` of the fitted pixels with the true canonical coordinates of the same pixels (``R^T (X - t)`` over the
box diagonal), axis by axis, and their spread against the truth's (a value well below 1 means the points are
squeezed towards the centre). For bottles, bowls and cans any yaw is right, so only their vertical
correlation means anything.

    python benchmarks/correspondence_diag.py --model models/cse_6cat_rgbd.pt --bags data/sim/heldout_default
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _heldout import list_bags  # noqa: E402

from selfpose_ros.cli.predict_cmd import predict_bag  # noqa: E402
from selfpose_ros.conventions import CATEGORIES, SYMMETRY  # noqa: E402
from selfpose_ros.data.stamps import ns_to_sec_nanosec  # noqa: E402
from selfpose_ros.eval.errors import rotation_error_deg  # noqa: E402
from selfpose_ros.eval.io_bag import load_gt_from_bag  # noqa: E402
from selfpose_ros.inference.cse_estimator import CSEEstimator  # noqa: E402
from selfpose_ros.inference.estimator import SolverOptions  # noqa: E402


class RecordingEstimator(CSEEstimator):
    """The CSE back-end, keeping each solved crop's raw fit, pose-head rotation and fitted correspondences."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: dict[tuple, dict] = {}

    def _solve(self, frame, inst, crop, out, j, geo=None, k=0):
        q, ok, _ = self.correspondences(crop, out, j)
        entry: dict = {"head": np.asarray(out["rotation"][j], dtype=np.float64)}
        if int(ok.sum()) >= self.options.min_inliers:
            fit, X = self.correspondence_fit(q, ok, crop)
            entry.update(q=q[ok].astype(np.float64), X=X)
            if fit.success:
                entry["raw"] = fit.rotation
        stamp = tuple(ns_to_sec_nanosec(frame.stamp_ns))
        self.seen[(stamp, inst.category, inst.instance)] = entry
        return super()._solve(frame, inst, crop, out, j, geo, k)


def coordinate_check(q: np.ndarray, X: np.ndarray, R: np.ndarray, t: np.ndarray, size: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(3,3) correlations of predicted canonical points q (N,3) with the truth's (rows q, columns truth) and
    the (3,) ratios of their standard deviations (q's over the truth's, per axis)."""
    truth = (X - t) @ R / float(np.linalg.norm(size))
    qc, tc = q - q.mean(0), truth - truth.mean(0)
    denom = np.outer(np.linalg.norm(qc, axis=0), np.linalg.norm(tc, axis=0))
    corr = (qc.T @ tc) / np.where(denom > 0, denom, np.nan)
    return corr, q.std(0) / np.maximum(truth.std(0), 1e-9)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="CSE checkpoint")
    ap.add_argument("--bags", type=Path, default=REPO / "data" / "sim" / "heldout_default",
                    help="directory of labelled bags (selfpose sim)")
    ap.add_argument("--max-frames", type=int, default=12, help="frames per bag")
    ap.add_argument("--categories", default="camera,laptop,mug,bottle", help="categories reported")
    ap.add_argument("--min-visibility", type=float, default=0.1)
    args = ap.parse_args()
    wanted = args.categories.split(",")
    est = RecordingEstimator(args.model, CATEGORIES, SolverOptions(min_inliers=15, device="cpu"))
    errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    checks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for bag in list_bags(args.bags):
        est.seen.clear()
        records, _ = predict_bag(est, bag, CATEGORIES, min_mask_pixels=50, use_up=True, max_frames=args.max_frames)
        truth = {(tuple(g.frame), g.category, g.instance): g for g in load_gt_from_bag(bag)
                 if g.visibility is None or g.visibility >= args.min_visibility}
        for rec in records:
            key = (tuple(rec.frame), rec.category, rec.instance)
            g, seen = truth.get(key), est.seen.get(key)
            if rec.category not in wanted or g is None or seen is None:
                continue
            sym = "continuous_y" if SYMMETRY.get(rec.category) == "continuous_y" else "none"
            for name, R in (("raw", seen.get("raw")), ("head", seen["head"]), ("output", rec.R)):
                if R is not None:
                    errors[rec.category][name].append(float(rotation_error_deg(R[None], g.R[None], sym)[0]))
            if "q" in seen:
                checks[rec.category].append(coordinate_check(seen["q"], seen["X"], g.R, g.t, g.size))
    print(f"model {args.model}, bags {args.bags}, {args.max_frames} frames per bag")
    print("rotation error, median degrees (share within 10 deg, %)")
    print(f"{'category':10} {'objects':>7} {'raw':>14} {'head':>14} {'output':>14}")
    for cat in wanted:
        cols = []
        for name in ("raw", "head", "output"):
            e = np.asarray(errors[cat][name])
            cols.append(f"{np.median(e):6.1f} ({100 * np.mean(e < 10):4.1f})" if len(e) else f"{'-':>14}")
        print(f"{cat:10} {len(errors[cat]['output']):7d} " + " ".join(f"{c:>14}" for c in cols))
    print("correspondences: correlation of q with the true canonical coordinates (x, y, z on the diagonal; "
          "x->z and z->x off it) and spread of q over the truth's")
    for cat in wanted:
        if not checks[cat]:
            continue
        corr = np.nanmean([c for c, _ in checks[cat]], axis=0)
        spread = np.median([s for _, s in checks[cat]], axis=0)
        print(f"{cat:10} crops {len(checks[cat]):4d}  r_xx {corr[0, 0]:+.2f} r_yy {corr[1, 1]:+.2f} "
              f"r_zz {corr[2, 2]:+.2f}  r_xz {corr[0, 2]:+.2f} r_zx {corr[2, 0]:+.2f}  spread "
              f"{spread[0]:.2f} {spread[1]:.2f} {spread[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
