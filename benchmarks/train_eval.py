"""Benchmark: NOCS mAP of the learned models vs the depth-only baseline on held-out simulated scenes,
and training throughput (images/s) on this machine.

Held-out data: simulated scenes with seeds never used for training (training uses seeds 1000-1029,
this benchmark 9000-9005 by default), with all six categories, so both the object instances and the camera
trajectories are new. One set of bags per ``--realism`` level (data/sim/heldout_<level>); missing bags are
generated with ``selfpose sim`` first.

    python benchmarks/train_eval.py                                    # shipped models + baseline, default bags
    python benchmarks/train_eval.py --realism default --realism heavy  # both tables
    python benchmarks/train_eval.py --model sup=/path/to/model.pt --rgb-only v2=models/cse_6cat_rgbd.pt
    python benchmarks/train_eval.py --throughput-only

Every method sees the same frames, the bags' segmentation and the gravity direction from their TF (never
their ground truth). Frames of different bags are kept apart (their stamps are offset before scoring).
The ground truth of each mug says whether its handle is visible (eval/handle_gt.py); a mug without a visible
handle is scored as symmetric (NOCS). ``--rgb-only NAME=PATH`` scores a checkpoint with depth withheld (the
keypoint/PnP path) as its own row. Per method it prints mAP, the share of objects whose every size axis is
within [0.8, 1.25] of the truth, and per category the correlation of predicted and true extents (metric and
proportions). The last column block is each method's mAP minus the baseline's (measured in the same run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _heldout import list_bags, shift_record  # noqa: E402

from selfpose_ros.cli.predict_cmd import predict_bag  # noqa: E402
from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.eval.handle_gt import annotate_handle_visibility  # noqa: E402
from selfpose_ros.eval.io_bag import load_gt_from_bag  # noqa: E402
from selfpose_ros.eval.io_jsonl import ObjectRecord  # noqa: E402
from selfpose_ros.eval.nocs_metrics import METRICS, EvalConfig, evaluate  # noqa: E402
from selfpose_ros.eval.report_table import format_table  # noqa: E402
from selfpose_ros.eval.size_metrics import extent_correlation, size_off_by_count, size_within_share  # noqa: E402
from selfpose_ros.inference.backends import make_estimator  # noqa: E402
from selfpose_ros.inference.estimator import SolverOptions  # noqa: E402

CATS = CATEGORIES
SIM_ARGS = ["--scenes", "6", "--frames", "30", "--categories", ",".join(CATS), "--objects", "2-4", "--seed", "9000",
            "--width", "320", "--height", "240", "--rate", "3", "--no-progress"]


def sim_has_realism() -> bool:
    """True when ``selfpose sim`` has the --realism option (the realism levels of the simulator)."""
    import argparse

    from selfpose_ros.cli import sim_cmd

    parser = argparse.ArgumentParser()
    sim_cmd.add_arguments(parser)
    return any("--realism" in a.option_strings for a in parser._actions)


def ensure_bags(root: Path, realism: str | None = None) -> list[Path]:
    """The held-out bags under ``root``; generate them with ``selfpose sim`` (at ``realism``) when absent."""
    if not root.exists():
        print(f"generating held-out scenes in {root} ...", flush=True)
        extra = ["--realism", realism] if realism else []
        cmd = [sys.executable, "-m", "selfpose_ros.cli.main", "sim", "--out", str(root), *SIM_ARGS, *extra]
        subprocess.run(cmd, check=True, cwd=REPO)
    return list_bags(root)


_GT_CACHE: dict[tuple[str, int | None], list[ObjectRecord]] = {}


def ground_truth(bag: Path, categories: list[str], max_frames: int | None) -> list[ObjectRecord]:
    """The bag's ground truth (first ``max_frames`` frames), mugs annotated with handle visibility; cached."""
    key = (str(bag), max_frames)
    if key not in _GT_CACHE:
        recs = load_gt_from_bag(bag)
        frames = sorted({r.frame for r in recs})
        keep = set(frames[:max_frames] if max_frames else frames)
        recs = [r for r in recs if r.frame in keep and r.category in categories]
        _GT_CACHE[key] = annotate_handle_visibility(bag, recs)
    return _GT_CACHE[key]


def make_method(model: str, categories: list[str], device: str, rgb_only: bool):
    """The back-end of one row: a named one or a checkpoint, optionally with depth withheld."""
    options = SolverOptions(min_inliers=15, device=device)
    if not rgb_only:
        return make_estimator(model, categories, options)
    from selfpose_ros.inference.cse_estimator import CSEEstimator

    return CSEEstimator(model, categories, options, use_depth=False)


def score_method(model: str, bags: list[Path], categories: list[str], max_frames: int | None, device: str,
                 min_visibility: float, rgb_only: bool = False, ego_bias: bool = False):
    """Predict every bag with one back-end and evaluate all of them together; return (report, seconds, counts).

    ``ego_bias``: the pipeline's ego-motion debiasing on, camera poses from each bag's TF (frame ``map``).
    """
    from selfpose_ros.inference.ego_bias import EgoBiasConfig

    est = make_method(model, categories, device, rgb_only)
    preds, gts, t0 = [], [], time.perf_counter()
    n_inst = n_est = n_frames = 0
    for k, bag in enumerate(bags):
        recs, stats = predict_bag(est, bag, categories, min_mask_pixels=50, use_up=True, max_frames=max_frames,
                                  ego_bias=EgoBiasConfig(frame="map") if ego_bias else None)
        preds += [shift_record(r, k) for r in recs]
        gts += [shift_record(r, k) for r in ground_truth(bag, categories, max_frames)]
        n_inst, n_est, n_frames = n_inst + stats.instances, n_est + stats.estimated, n_frames + stats.frames
    seconds = time.perf_counter() - t0
    report = evaluate(preds, gts, EvalConfig(min_visibility=min_visibility))
    return report, seconds, (n_frames, n_inst, n_est)


def training_throughput(config: Path, bags: list[Path], steps: int) -> float:
    """Images/s of ``selfpose train`` with ``config`` for a few steps on ``bags`` (CPU unless CUDA is there)."""
    import tempfile

    from selfpose_ros.train.config import load_config
    from selfpose_ros.train.trainer import run_training

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(config, [f"optim.steps={steps}", "optim.warmup_steps=1", f"run.out_dir={tmp}",
                                   "run.progress=false", f"data.bags=[{', '.join(str(b) for b in bags)}]",
                                   f"run.checkpoint_every={steps}", "run.image_every=0"])
        return run_training(cfg, "benchmark").images_per_second


def main() -> int:
    """Run the benchmark and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bags", type=Path, default=None,
                    help="held-out bags (dir; generated when absent); default data/sim/heldout_<realism>")
    ap.add_argument("--realism", action="append", default=[], choices=("none", "default", "heavy"),
                    help="realism level(s) of the held-out bags (default: default when the simulator has levels)")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                    help="extra checkpoint to score (supervised upper bound, ablations); repeatable")
    ap.add_argument("--rgb-only", action="append", default=[], metavar="NAME=PATH",
                    help="checkpoint scored with depth withheld (keypoint/PnP path); repeatable")
    ap.add_argument("--categories", default=",".join(CATS), help="categories scored (default all six)")
    ap.add_argument("--no-shipped", action="store_true", help="do not score models/cse_*.pt")
    ap.add_argument("--no-baseline", action="store_true",
                    help="do not score prior_fit (differences are then against the first method)")
    ap.add_argument("--json", type=Path, default=None, help="also write every table's numbers to this JSON file")
    ap.add_argument("--max-frames", type=int, default=None, help="frames per bag (default all)")
    ap.add_argument("--min-visibility", type=float, default=0.1, help="ignore GT objects less visible than this")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--per-category", action="store_true", help="print each method's full table")
    ap.add_argument("--ego-bias", action="store_true",
                    help="score every method a second time with ego-motion debiasing (a '+ ego_bias' row)")
    ap.add_argument("--throughput-config", type=Path, default=REPO / "config" / "train_selfsup.yaml")
    ap.add_argument("--throughput-steps", type=int, default=12)
    ap.add_argument("--throughput-only", action="store_true")
    ap.add_argument("--no-throughput", action="store_true")
    args = ap.parse_args()

    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    levels = args.realism or (["default"] if sim_has_realism() else [None])
    if args.bags is not None and len(levels) > 1:
        raise SystemExit("--bags names one set of bags: give at most one --realism with it")
    bag_sets = {lvl: ensure_bags(args.bags or REPO / "data" / "sim" / f"heldout_{lvl or 'legacy'}", lvl)
                for lvl in levels}
    if not args.no_throughput:
        first = next(iter(bag_sets.values()))
        ips = training_throughput(args.throughput_config, first[:2], args.throughput_steps)
        import torch

        where = "GPU" if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
        print(f"training throughput ({args.throughput_config.name}, {args.throughput_steps} steps, {where}): "
              f"{ips:.1f} images/s", flush=True)
        if args.throughput_only:
            return 0
    methods = [] if args.no_baseline else [("prior_fit (depth-only baseline)", "prior_fit", False)]
    if not args.no_shipped:
        methods += [(p.stem, str(p), False) for p in sorted((REPO / "models").glob("cse_*.pt"))]
    for item, rgb in [(m, False) for m in args.model] + [(m, True) for m in args.rgb_only]:
        name, _, path = item.partition("=")
        methods.append((name + (" (RGB only)" if rgb else ""), path, rgb))
    if not methods:
        raise SystemExit("nothing to score: --no-baseline and --no-shipped without --model/--rgb-only")
    methods = [(*m, False) for m in methods]
    if args.ego_bias:
        methods = [row for m in methods
                   for row in (m, (m[0].replace(" (depth-only baseline)", "") + " + ego_bias", m[1], m[2], True))]
    results = {str(lvl): score_level(lvl, bags, methods, categories, args) for lvl, bags in bag_sets.items()}
    if args.json is not None:
        import json

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def score_level(level: str | None, bags: list[Path], methods: list, categories: list[str], args) -> dict:
    """Score every method on one set of held-out bags, print the tables, return their numbers."""
    rows, out = [], {}
    for name, model, rgb_only, ego_bias in methods:
        report, seconds, (frames, inst, est) = score_method(model, bags, categories, args.max_frames, args.device,
                                                            args.min_visibility, rgb_only, ego_bias)
        rows.append((name, report))
        print(f"[{level}] {name}: {frames} frames, {est}/{inst} instances estimated, {frames / seconds:.2f} frames/s",
              flush=True)
        out[name] = {"ap": report.ap, "accuracy": report.accuracy, "size_ok": size_within_share(report.pairs),
                     "size_off_2x": size_off_by_count(report.pairs),
                     "extent_r": extent_correlation(report.pairs),
                     "proportion_r": extent_correlation(report.pairs, proportions=True),
                     "frames": frames, "instances": inst, "estimated": est, "frames_per_s": frames / seconds}
        if args.per_category:
            print(format_table(report), flush=True)
    base = rows[0][1].ap
    print(f"\nNOCS-style mAP (%), realism {level or 'legacy (no levels)'}, {len(bags)} held-out scenes "
          f"({bags[0].parent}), min visibility {args.min_visibility}")
    print(f"{'method':34s} " + " ".join(f"{m:>8s}" for m in METRICS) + "  size ok | mAP - baseline (points)")
    for name, report in rows:
        vals = " ".join(f"{100 * report.ap[m]['mean']:8.1f}" for m in METRICS)
        diff = " ".join(f"{100 * (report.ap[m]['mean'] - base[m]['mean']):+6.1f}" for m in METRICS)
        share = size_within_share(report.pairs)["all"]
        print(f"{name[:34]:34s} {vals}  {100 * share:6.1f} | {diff}")
    print("\nPer-object accuracy (%, share of ground-truth objects; the issues' goals), size within [0.8, 1.25] "
          "(% of matched objects) and matched objects with an axis off by more than 2x")
    print(f"{'method':34s} " + " ".join(f"{m:>8s}" for m in METRICS) + "  size ok  >2x")
    for name, report in rows:
        vals = " ".join(f"{100 * report.accuracy[m]['all']:8.1f}" for m in METRICS)
        share, off = size_within_share(report.pairs)["all"], size_off_by_count(report.pairs)["all"]
        print(f"{name[:34]:34s} {vals}  {100 * share:6.1f} {off:4d}")
    print("\nPer category AP (%) IoU50 / 5deg2cm / 10deg5cm, and extent correlation r (metric; proportions)")
    for name, report in rows:
        metric, prop = extent_correlation(report.pairs), extent_correlation(report.pairs, proportions=True)
        parts = []
        for c in report.categories:
            ap = report.ap
            r1, r2 = metric.get(c, {}).get("mean", float("nan")), prop.get(c, {}).get("mean", float("nan"))
            a = [100 * ap[m].get(c, float("nan")) for m in ("IoU50", "5deg2cm", "10deg5cm")]
            parts.append(f"{c} {a[0]:.0f}/{a[1]:.0f}/{a[2]:.0f}"
                         f" r {r1:.2f};{r2:.2f}")
        print(f"  {name[:34]:34s} " + ", ".join(parts))
    return out


if __name__ == "__main__":
    sys.exit(main())
