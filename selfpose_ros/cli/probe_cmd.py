"""``selfpose probe --model M --train-cache A --test-cache B``: linear viewpoint probe on the frozen global
embedding (selfpose_ros/train/probe.py), trained on 1 % and 10 % of A's labels, scored on B's held-out instances."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``selfpose probe``."""
    parser.add_argument("--model", required=True, action="append", metavar="[NAME=]PATH",
                        help="checkpoint to probe; repeatable")
    parser.add_argument("--train-cache", required=True, type=Path, help="crop cache with ground truth (probe labels)")
    parser.add_argument("--test-cache", required=True, type=Path, help="crop cache of held-out instances, with "
                                                                       "ground truth")
    parser.add_argument("--fractions", type=_floats, default=[0.01, 0.1], help="label fractions (default 0.01,0.1)")
    parser.add_argument("--seeds", type=_ints, default=[0, 1], help="label-subset seeds (default 0,1)")
    parser.add_argument("--alpha", type=float, default=10.0, help="ridge penalty on standardised features")
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    """Print one Markdown row per model, fraction and seed; return 0, or 2 on bad input."""
    from selfpose_ros.model.checkpoint import load_checkpoint
    from selfpose_ros.train.crop_cache import CacheError, CropCacheDataset
    from selfpose_ros.train.probe import global_features, run_probe

    try:
        caches = {}
        for name, path in (("train", args.train_cache), ("test", args.test_cache)):
            ds = CropCacheDataset(path)
            gt = ds.ground_truth()
            caches[name] = (ds, gt["R"], [ds.category_name(i) for i in range(len(ds))])
        rows = []
        for item in args.model:
            name, _, path = item.rpartition("=")
            name = name or Path(path).stem
            ck = load_checkpoint(path)
            model = ck.build_model(args.device)
            feats = {}
            for split, (ds, R, cats) in caches.items():
                keep = [i for i, c in enumerate(cats) if c in ck.categories]
                X = global_features(model, ds, device=args.device)[keep]
                feats[split] = (X, R[keep], [cats[i] for i in keep])
            for f in args.fractions:
                for s in args.seeds:
                    rows.append((name, run_probe(feats["train"], feats["test"], f, s, args.alpha)))
    except (CacheError, ValueError, FileNotFoundError) as exc:
        print(f"selfpose probe: error: {exc}", file=sys.stderr)
        return 2
    cats = sorted({c for _, r in rows for c in r.median_deg})
    print("| model | labels | seed | probe crops | " + " | ".join(cats) + " | mean |")
    print("|" + " --- |" * (5 + len(cats)))
    for name, r in rows:
        vals = " | ".join(f"{r.median_deg[c]:.1f}" if c in r.median_deg else "-" for c in cats)
        print(f"| {name} | {100 * r.fraction:g} % | {r.seed:03d} | {r.train_crops} | {vals} | {r.mean_deg:.1f} |")
    return 0
