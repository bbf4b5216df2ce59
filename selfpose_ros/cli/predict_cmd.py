"""``selfpose predict``: run a pose back-end on every frame of a bag and write JSON-lines predictions.

The bag's colour, depth, segmentation, camera_info and TF are read; its ground truth never is. The output
is the format of ``selfpose eval --pred``, so ``selfpose eval --pred preds.jsonl --gt BAG`` scores it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfpose_ros.cli.bag_guard import add_repair_argument, readable_bags, reader_error_line, reader_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``selfpose predict``."""
    parser.add_argument("--model", required=True, help="'prior_fit' (depth-only baseline) or a checkpoint .pt")
    parser.add_argument("--bag", required=True, type=Path, help="rosbag2 directory (MCAP or sqlite3)")
    parser.add_argument("--out", required=True, type=Path, help="predictions, JSON lines")
    parser.add_argument("--categories", default=None,
                        help="comma-separated categories to estimate (default: the model's, or all for prior_fit)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda:N | auto")
    parser.add_argument("--min-mask-pixels", type=int, default=50, help="skip smaller instances")
    parser.add_argument("--min-inliers", type=int, default=15)
    parser.add_argument("--no-icp", action="store_true", help="no ICP refinement")
    parser.add_argument("--no-up", action="store_true",
                        help="do not pass the gravity direction (the world frame's +Z from the bag's TF)")
    parser.add_argument("--world-frame", default="map", help="TF frame whose +Z is up")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    add_repair_argument(parser)


@dataclass
class PredictStats:
    """What a prediction run did."""

    frames: int = 0
    instances: int = 0
    estimated: int = 0
    seconds: float = 0.0
    failures: Counter | None = None


def _bag_frames(bag: Path, world_frame: str, use_up: bool) -> Iterator[tuple]:
    """Yield (RGBDFrame, label categories) for every synchronised frame of ``bag`` (ground truth unread)."""
    from rosbags.rosbag2 import Reader

    from selfpose_ros.inference.frame import RGBDFrame
    from selfpose_ros.train.dataset_bag import (
        BagTopics,
        iter_synced_frames,
        label_categories,
        nearest_info,
        read_side_topics,
    )

    topics = BagTopics(world_frame=world_frame)
    with Reader(bag) as reader:
        cats = label_categories(reader, None)
        side = read_side_topics(reader, topics, supervised=False, tf_tolerance_ns=0)
        for f in iter_synced_frames(reader, topics):
            K = nearest_info(side, f.stamp_ns, f.rgb.shape[1], f.rgb.shape[0])
            up = None
            if use_up:
                T = side.tf.lookup(world_frame, f.frame_id, f.stamp_ns)
                up = np.asarray(T[:3, :3]).T @ np.array([0.0, 0.0, 1.0])  # world +Z in the camera frame
            yield RGBDFrame(f.rgb, f.depth_m, f.labels, K, f.frame_id, f.stamp_ns, up), cats


def predict_bag(estimator, bag: Path, categories: Sequence[str] | None, *, min_mask_pixels: int = 50,
                use_up: bool = True, world_frame: str = "map", max_frames: int | None = None,
                progress: bool = False) -> tuple[list, PredictStats]:
    """Run ``estimator`` on every frame of ``bag``; return (ObjectRecords, stats)."""
    from selfpose_ros.eval.io_jsonl import ObjectRecord
    from selfpose_ros.inference.instances import extract_instances

    records: list[ObjectRecord] = []
    stats = PredictStats(failures=Counter())
    t0 = time.perf_counter()
    for frame, cats in _bag_frames(bag, world_frame, use_up):
        if max_frames is not None and stats.frames >= max_frames:
            break
        active = categories if categories is not None else cats
        unknown = sorted(set(active) - set(cats))
        if unknown:
            raise ValueError(f"categories {unknown} are not among the bag's label categories {list(cats)}")
        instances, _ = extract_instances(frame.labels, cats, active, min_mask_pixels)
        stats.frames += 1
        stats.instances += len(instances)
        stamp = (frame.stamp_ns // 1_000_000_000, frame.stamp_ns % 1_000_000_000)
        for res in estimator.estimate(frame, instances):
            if res.estimate is None:
                stats.failures[(res.failure or "unknown")[:60]] += 1
                continue
            e = res.estimate
            stats.estimated += 1
            records.append(ObjectRecord(stamp, e.category, e.instance, float(e.confidence), e.R, e.t, e.size))
        if progress:
            print(f"\rframe {stats.frames}: {stats.estimated}/{stats.instances} estimated", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    stats.seconds = time.perf_counter() - t0
    return records, stats


def run(args: argparse.Namespace) -> int:
    """Predict and write JSON lines; return 0, or 2 on bad input."""
    from selfpose_ros.eval.io_jsonl import write_records
    from selfpose_ros.inference.estimator import SolverOptions, make_estimator

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if not args.bag.exists():
        print(f"selfpose predict: error: bag not found: {args.bag}", file=sys.stderr)
        return 2
    bags = readable_bags("selfpose predict", [args.bag], args.repair)  # before the model loads
    if bags is None:
        return 2
    cats = [c.strip() for c in args.categories.split(",")] if args.categories else None
    options = SolverOptions(min_inliers=args.min_inliers, icp=not args.no_icp, device=args.device)
    try:
        if cats is None and args.model != "prior_fit":
            from selfpose_ros.train.checkpoint import read_header

            cats = list(read_header(args.model)["categories"])
        estimator = make_estimator(args.model, cats or _all_categories(), options)
        missing = getattr(estimator, "missing_categories", [])
        if missing:  # asked for by name: an error here, unlike a node's label list
            raise ValueError(f"{args.model} covers categories {estimator.categories}, but {missing} were requested")
        records, stats = predict_bag(estimator, bags[0], cats, min_mask_pixels=args.min_mask_pixels,
                                     use_up=not args.no_up, world_frame=args.world_frame,
                                     max_frames=args.max_frames, progress=sys.stderr.isatty())
    except (ValueError, FileNotFoundError) as exc:
        print(f"selfpose predict: error: {exc}", file=sys.stderr)
        return 2
    except reader_errors() as exc:
        print(reader_error_line("selfpose predict", exc), file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_records(args.out, records)
    rate = stats.frames / stats.seconds if stats.seconds > 0 else float("nan")
    print(f"{estimator.name}: {stats.frames} frames, {stats.estimated}/{stats.instances} instances estimated "
          f"({rate:.2f} frames/s); wrote {args.out}")
    for reason, n in stats.failures.most_common(5):
        print(f"  failed x{n}: {reason}")
    return 0


def _all_categories() -> list[str]:
    from selfpose_ros.conventions import CATEGORIES

    return list(CATEGORIES)
