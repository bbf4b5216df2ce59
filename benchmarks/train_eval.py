"""Benchmark: NOCS mAP of the learned models vs the depth-only baseline on held-out simulated scenes,
and training throughput (images/s) on this machine.

Held-out data: simulated scenes with seeds never used for training (training uses seeds 1000-1023,
validation 7000-7002; this benchmark 9000-9005 by default), so both the object instances and the camera
trajectories are new. Missing data is generated with ``selfpose sim`` first (about 2 minutes).

    .venv/bin/python benchmarks/train_eval.py                      # shipped models + baseline
    .venv/bin/python benchmarks/train_eval.py --model sup=/path/to/supervised/model.pt --model ...
    .venv/bin/python benchmarks/train_eval.py --throughput-only

Every method sees the same frames, the bags' segmentation and the gravity direction from their TF (never
their ground truth). Frames of different bags are kept apart (their stamps are offset before scoring).
The last column block prints each method's mAP minus the baseline's (the peer measured in the same run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from selfpose_ros.cli.predict_cmd import predict_bag  # noqa: E402
from selfpose_ros.eval.io_bag import load_gt_from_bag  # noqa: E402
from selfpose_ros.eval.io_jsonl import ObjectRecord  # noqa: E402
from selfpose_ros.eval.nocs_metrics import METRICS, EvalConfig, evaluate  # noqa: E402
from selfpose_ros.eval.report_table import format_table  # noqa: E402
from selfpose_ros.inference.estimator import SolverOptions, make_estimator  # noqa: E402

CATS = ("bottle", "bowl", "can", "mug")
SIM_ARGS = ["--scenes", "6", "--frames", "30", "--categories", ",".join(CATS), "--objects", "2-4", "--seed", "9000",
            "--width", "320", "--height", "240", "--rate", "3", "--realism", "none", "--no-progress"]
BAG_OFFSET_S = 1_000_000  # stamps of bag k are shifted by k * this many seconds before scoring


def ensure_bags(root: Path) -> list[Path]:
    """The held-out bags under ``root``; generate them with ``selfpose sim`` when absent."""
    if not root.exists():
        print(f"generating held-out scenes in {root} ...", flush=True)
        cmd = [sys.executable, "-m", "selfpose_ros.cli.main", "sim", "--out", str(root), *SIM_ARGS]
        subprocess.run(cmd, check=True, cwd=REPO)
    bags = sorted(p for p in root.iterdir() if (p / "metadata.yaml").is_file())
    if not bags:
        raise SystemExit(f"no bags in {root}")
    return bags


def _shift(rec: ObjectRecord, k: int) -> ObjectRecord:
    return ObjectRecord((rec.frame[0] + k * BAG_OFFSET_S, rec.frame[1]), rec.category, rec.instance, rec.score,
                        rec.R, rec.t, rec.size, rec.visibility)


def score_method(model: str, bags: list[Path], categories: list[str], max_frames: int | None, device: str,
                 min_visibility: float):
    """Predict every bag with one back-end and evaluate all of them together; return (report, seconds, counts)."""
    est = make_estimator(model, categories, SolverOptions(min_inliers=15, device=device))
    preds, gts, t0 = [], [], time.perf_counter()
    n_inst = n_est = n_frames = 0
    for k, bag in enumerate(bags):
        recs, stats = predict_bag(est, bag, categories, min_mask_pixels=50, use_up=True, max_frames=max_frames)
        preds += [_shift(r, k) for r in recs]
        frames = {r.frame for r in load_gt_from_bag(bag)}
        keep = sorted(frames)[:max_frames] if max_frames else sorted(frames)
        gts += [_shift(r, k) for r in load_gt_from_bag(bag) if r.frame in set(keep) and r.category in categories]
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
    ap.add_argument("--bags", type=Path, default=REPO / "data" / "sim" / "heldout",
                    help="held-out bags (dir; generated when absent)")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                    help="extra checkpoint to score (supervised upper bound, ablations); repeatable")
    ap.add_argument("--no-shipped", action="store_true", help="do not score models/cse_*.pt")
    ap.add_argument("--max-frames", type=int, default=None, help="frames per bag (default all)")
    ap.add_argument("--min-visibility", type=float, default=0.1, help="ignore GT objects less visible than this")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--per-category", action="store_true", help="print each method's full table")
    ap.add_argument("--throughput-config", type=Path, default=REPO / "config" / "train_selfsup.yaml")
    ap.add_argument("--throughput-steps", type=int, default=12)
    ap.add_argument("--throughput-only", action="store_true")
    ap.add_argument("--no-throughput", action="store_true")
    args = ap.parse_args()

    bags = ensure_bags(args.bags)
    if not args.no_throughput:
        ips = training_throughput(args.throughput_config, bags[:2], args.throughput_steps)
        import torch

        where = "GPU" if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
        print(f"training throughput ({args.throughput_config.name}, {args.throughput_steps} steps, {where}): "
              f"{ips:.1f} images/s", flush=True)
        if args.throughput_only:
            return 0
    methods = [("prior_fit (depth-only baseline)", "prior_fit")]
    if not args.no_shipped:
        methods += [(p.stem, str(p)) for p in sorted((REPO / "models").glob("cse_*.pt"))]
    for item in args.model:
        name, _, path = item.partition("=")
        methods.append((name, path))
    rows = []
    for name, model in methods:
        report, seconds, (frames, inst, est) = score_method(model, bags, list(CATS), args.max_frames, args.device,
                                                            args.min_visibility)
        rows.append((name, report))
        print(f"{name}: {frames} frames, {est}/{inst} instances estimated, {frames / seconds:.2f} frames/s",
              flush=True)
        if args.per_category:
            print(format_table(report), flush=True)
    base = rows[0][1].ap
    print(f"\nNOCS-style mAP (%) on {len(bags)} held-out scenes ({args.bags}), min visibility {args.min_visibility}")
    print(f"{'method':34s} " + " ".join(f"{m:>8s}" for m in METRICS) + "   | mAP - baseline (points)")
    for name, report in rows:
        vals = " ".join(f"{100 * report.ap[m]['mean']:8.1f}" for m in METRICS)
        diff = " ".join(f"{100 * (report.ap[m]['mean'] - base[m]['mean']):+6.1f}" for m in METRICS)
        print(f"{name[:34]:34s} {vals}   | {diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
