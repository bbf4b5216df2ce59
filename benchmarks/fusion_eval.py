"""Benchmark: multi-view fusion against per-frame estimates, on the same frames of held-out simulated scenes.

Every back-end runs once through the shared frame pipeline with fusion on (``selfpose predict --fuse``'s
code path, camera poses from each bag's TF); the pipeline also hands back the back-end's own per-frame
estimates of the same frames. Scored are the object-frames whose fused track has seen at least
``--min-span`` degrees of view span (the issue's acceptance), for the fused and the per-frame estimates:

- per-frame accuracy at 10deg5cm and IoU50 (all objects and per category), as ``selfpose eval``;
- the share of object-frames, and of objects (each at its last scored frame), whose every size axis is within
  [0.8, 1.25] of the truth;
- the fusion stage's cost: milliseconds per object per frame (wall and this thread's CPU) and searches/refits.

Held-out data: seeds 9100.. (training uses 1000-1023, validation 7000-7002, train_eval 9000-9005), all six
categories, realism ``default``, 3 Hz; missing bags are written with ``selfpose sim`` first.

    python benchmarks/fusion_eval.py [--root DIR] [--scenes 8] [--model prior_fit --model models/cse_6cat_rgbd.pt]

``--ego-bias`` turns ego-motion debiasing on as well (both rows then hold debiased per-frame estimates).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _heldout import BAG_OFFSET_S, list_bags, shift_record  # noqa: E402

from selfpose_ros.cli.predict_cmd import predict_bag  # noqa: E402
from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.eval.io_bag import load_gt_from_bag  # noqa: E402
from selfpose_ros.eval.io_jsonl import ObjectRecord  # noqa: E402
from selfpose_ros.eval.nocs_metrics import evaluate  # noqa: E402
from selfpose_ros.inference.backends import make_estimator  # noqa: E402
from selfpose_ros.inference.ego_bias import EgoBiasConfig  # noqa: E402
from selfpose_ros.inference.estimator import SolverOptions  # noqa: E402
from selfpose_ros.inference.fusion_track import FusionConfig  # noqa: E402

SIZE_RANGE = (0.8, 1.25)


def ensure_bags(root: Path, scenes: int, frames: int, seed: int, extra: list[str]) -> list[Path]:
    """The held-out bags under ``root``; generate them with ``selfpose sim`` when absent."""
    if not root.exists():
        print(f"generating {scenes} held-out scenes in {root} ...", flush=True)
        cmd = [sys.executable, "-m", "selfpose_ros.cli.main", "sim", "--out", str(root), "--scenes", str(scenes),
               "--frames", str(frames), "--categories", ",".join(CATEGORIES), "--objects", "2-4", "--seed",
               str(seed), "--rate", "3", "--realism", "default", "--no-progress", *extra]
        subprocess.run(cmd, check=True, cwd=REPO)
    return list_bags(root)


def _key(rec: ObjectRecord) -> tuple:
    return rec.frame, rec.category, rec.instance


def size_scores(preds: list[ObjectRecord], gts: dict) -> tuple[float, float, int]:
    """(share of object-frames, share of objects at their last frame) with every size axis within SIZE_RANGE."""
    ok_frames, last = [], {}
    for p in preds:
        g = gts.get(_key(p))
        if g is None:
            continue
        ratio = np.asarray(p.size) / np.asarray(g.size)
        ok = bool(np.all((ratio >= SIZE_RANGE[0]) & (ratio <= SIZE_RANGE[1])))
        ok_frames.append(ok)
        obj = (p.frame[0] // BAG_OFFSET_S, p.category, p.instance)
        if obj not in last or p.frame > last[obj][0]:
            last[obj] = (p.frame, ok)
    objects = [ok for _, ok in last.values()]
    return (float(np.mean(ok_frames)) if ok_frames else float("nan"),
            float(np.mean(objects)) if objects else float("nan"), len(objects))


def score(preds: list[ObjectRecord], gts: list[ObjectRecord], keys: set) -> dict:
    """Accuracy on the object-frames in ``keys`` (GT and predictions restricted to them)."""
    g = [r for r in gts if _key(r) in keys]
    p = [r for r in preds if _key(r) in keys]
    report = evaluate(p, g)
    frame_share, object_share, n_objects = size_scores(p, {_key(r): r for r in g})
    out = {"n": len(g), "objects": n_objects, "size_frames": frame_share, "size_objects": object_share}
    for metric in ("10deg5cm", "IoU50", "5deg2cm"):
        out[metric] = report.accuracy[metric]
    return out


def run_model(model: str, bags: list[Path], min_span: float, device: str, ego_bias: bool = False
              ) -> tuple[dict, dict, dict]:
    """Predict every bag with fusion on (and ego-motion debiasing with ``ego_bias``); return (fused scores,
    per-frame scores, cost)."""
    est = make_estimator(model, list(CATEGORIES), SolverOptions(min_inliers=15, device=device))
    cats = [c for c in CATEGORIES if c not in getattr(est, "missing_categories", [])]
    fused, per_frame, gts = [], [], []
    cost = defaultdict(float)
    t0 = time.perf_counter()
    for k, bag in enumerate(bags):
        unfused: list[ObjectRecord] = []
        recs, stats = predict_bag(est, bag, cats, min_mask_pixels=50, use_up=True,
                                  fusion=FusionConfig(frame="map"), per_frame=unfused,
                                  ego_bias=EgoBiasConfig(frame="map") if ego_bias else None)
        fused += [shift_record(r, k) for r in recs]
        per_frame += [shift_record(r, k) for r in unfused]
        gts += [shift_record(r, k) for r in load_gt_from_bag(bag) if r.category in cats]
        for name, value in stats.fusion.items():
            cost[name] += value
        cost["frames"] += stats.frames
        print(f"  {bag.name}: {stats.frames} frames, {stats.estimated} estimates ({stats.fused} fused)", flush=True)
    cost["seconds"] = time.perf_counter() - t0
    keys = {_key(r) for r in fused if r.fused and (r.view_span_deg or 0.0) >= min_span}
    return score(fused, gts, keys), score(per_frame, gts, keys), dict(cost)


def _pct(x: float) -> str:
    return "  -  " if x != x else f"{100 * x:5.1f}"


def print_table(rows: list[tuple[str, dict]]) -> None:
    """One line per (method, fused or per-frame): accuracy, size shares and per-category 10deg5cm."""
    head = f"{'method':38s} {'n':>5s} {'10d5c':>6s} {'5d2c':>6s} {'IoU50':>6s} {'size/fr':>7s} {'size/obj':>8s} "
    print(head + " ".join(f"{c[:6]:>6s}" for c in CATEGORIES) + "   (per-category: 10deg5cm)")
    for name, s in rows:
        acc, iou = s["10deg5cm"], s["IoU50"]
        cats = " ".join(f"{_pct(acc.get(c, float('nan'))):>6s}" for c in CATEGORIES)
        print(f"{name:38s} {s['n']:5d} {_pct(acc['all']):>6s} {_pct(s['5deg2cm']['all']):>6s} "
              f"{_pct(iou['all']):>6s} {_pct(s['size_frames']):>7s} {_pct(s['size_objects']):>8s} {cats}")


def main() -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/selfpose_fusion_heldout_default"))
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--seed", type=int, default=9100)
    ap.add_argument("--sim-arg", action="append", default=[], help="extra `selfpose sim` argument (repeatable)")
    ap.add_argument("--model", action="append", default=None, help="back-end (repeatable)")
    ap.add_argument("--min-span", type=float, default=30.0, help="score frames whose track has this view span")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ego-bias", action="store_true",
                    help="ego-motion debiasing on too (docs/pose_estimator.md): the per-frame rows are then debiased")
    args = ap.parse_args()
    models = args.model or ["prior_fit", str(REPO / "models" / "cse_6cat_rgbd.pt")]
    bags = ensure_bags(args.root, args.scenes, args.frames, args.seed, args.sim_arg)
    rows = []
    for model in models:
        print(f"{model}:", flush=True)
        with_fusion, without, cost = run_model(model, bags, args.min_span, args.device, args.ego_bias)
        label = Path(model).stem if model != "prior_fit" else model
        rows += [(f"{label} + fusion", with_fusion), (f"{label} per-frame (same frames)", without)]
        n = max(cost.get("objects", 0), 1)
        print(f"  fusion cost: {1e3 * cost.get('wall_s', 0) / n:.1f} ms wall, {1e3 * cost.get('cpu_s', 0) / n:.1f} ms "
              f"CPU per object per frame over {int(n)} object-frames; {int(cost.get('searches', 0))} searches, "
              f"{int(cost.get('refits', 0))} refits, {int(cost.get('resets', 0))} resets; run {cost['seconds']:.0f} s")
    print(f"\nobject-frames whose fused track has seen >= {args.min_span:g} deg of view span, {len(bags)} scenes:")
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
