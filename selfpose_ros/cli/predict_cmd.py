"""``selfpose predict``: run a pose back-end on every frame of a bag and write JSON-lines predictions.

The bag's colour, depth, segmentation, camera_info and TF are read; its ground truth never is. The output
is the format of ``selfpose eval --pred``, so ``selfpose eval --pred preds.jsonl --gt BAG`` scores it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    parser.add_argument("--mask-reach-px", type=int, default=None,
                        help="each object's depth surface grows up to this many pixels beyond its mask (the node's "
                             "mask_reach_px; default: the node's default)")
    parser.add_argument("--no-up", action="store_true",
                        help="do not take the gravity direction from the bag's TF (the world frame's +Z); "
                             "the bag then needs no /tf")
    parser.add_argument("--world-frame", default="map", help="TF frame whose +Z is up")
    parser.add_argument("--fuse", action="store_true",
                        help="multi-view fusion: world-frame tracks refitted on their fused cloud, camera poses "
                             "from the bag's TF (docs/pose_estimator.md, 'Multi-view fusion')")
    parser.add_argument("--ego-bias", action="store_true",
                        help="take each object's along-ray offset out, fitted to the views the bag's camera "
                             "trajectory gave of it (docs/pose_estimator.md, 'Ego-motion debiasing')")
    parser.add_argument("--fusion-frame", default="map",
                        help="with --fuse or --ego-bias: the frame static relative to the objects")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    add_repair_argument(parser)


@dataclass
class PredictStats:
    """What a prediction run did: frames, instances found and estimated, skip reasons by kind."""

    frames: int = 0
    instances: int = 0
    estimated: int = 0
    fused: int = 0  #: estimates that are fits of a multi-view fused cloud (with --fuse)
    seconds: float = 0.0
    skips: Counter = field(default_factory=Counter)  #: Skip.kind -> count
    examples: dict = field(default_factory=dict)  #: Skip.kind -> Counter of reason texts (for the summary)
    label_values: set = field(default_factory=set)  #: non-zero segmentation values seen (at most 64 kept)
    fusion: dict = field(default_factory=dict)  #: the fusion stage's counters and times (with --fuse)
    up_sources: Counter = field(default_factory=Counter)  #: frames with an estimate, by where up came from

    def add_skips(self, skipped: Sequence) -> None:
        """Count the frame's skip reasons by kind and remember their texts."""
        for reason in skipped:
            self.skips[reason.kind] += 1
            self.examples.setdefault(reason.kind, Counter())[_strip_instance(str(reason))] += 1

    def summary_lines(self) -> list[str]:
        """The run's summary: one line per skip kind with its count and most common reasons."""
        lines = [f"frames {self.frames}, instances found {self.instances}, estimated {self.estimated}"
                 + (f" ({self.fused} fused over several views)" if self.fused else "")]
        if self.up_sources:
            names = {"tf": "TF", "support_plane": "the support plane", "none": "nowhere (no up hint)"}
            lines.append("  up direction from " + ", ".join(f"{names.get(k, k)} in {n} frames"
                                                           for k, n in self.up_sources.most_common()))
        for kind, n in self.skips.most_common():
            common = "; ".join(f"{text} (x{k})" for text, k in self.examples[kind].most_common(2))
            lines.append(f"  skipped {kind} x{n}: {common}")
        return lines


def _strip_instance(text: str) -> str:
    """A reason without the instance name in front ('mug_1: no pose (...)' -> 'no pose (...)')."""
    head, sep, rest = text.partition(": ")
    return rest if sep and " " not in head else text


def predict_bag(estimator, bag: Path, categories: Sequence[str] | None, *, min_mask_pixels: int = 50,
                use_up: bool = True, world_frame: str = "map", max_frames: int | None = None,
                progress: bool = False, fusion=None, per_frame: list | None = None,
                ego_bias=None) -> tuple[list, PredictStats]:
    """Run ``estimator`` through the frame pipeline on every frame of ``bag``; return (ObjectRecords, stats).

    ``fusion``: a FusionConfig with its frame set fuses views through the bag's TF. ``per_frame``: when a
    list, the back-end's own estimates (before fusion) are appended to it as ObjectRecords too. ``ego_bias``: an
    EgoBiasConfig with its frame set takes each object's along-ray offset out, camera poses from the bag's TF.
    """
    from selfpose_ros.data.bag_reader import BagTopics, read_rgbd_frames
    from selfpose_ros.data.instances import Skip
    from selfpose_ros.data.stamps import ns_to_sec_nanosec
    from selfpose_ros.eval.io_jsonl import ObjectRecord
    from selfpose_ros.inference.pipeline import FramePipeline, PipelineConfig

    tf_lookup = None
    if (fusion is not None and fusion.enabled) or (ego_bias is not None and ego_bias.enabled):
        from selfpose_ros.data.bag_tf import read_bag_tf

        tf_lookup = read_bag_tf(bag, BagTopics(world_frame=world_frame)).lookup
    records: list[ObjectRecord] = []
    stats = PredictStats()
    pipeline = None
    t0 = time.perf_counter()
    frames = read_rgbd_frames(bag, BagTopics(world_frame=world_frame), world_frame if use_up else None)
    for frame, cats in frames:
        if max_frames is not None and stats.frames >= max_frames:
            break
        if pipeline is None:
            active = categories if categories is not None else cats
            unknown = sorted(set(active) - set(cats))
            if unknown:
                raise ValueError(f"categories {unknown} are not among the bag's label categories {list(cats)}")
            config = PipelineConfig(cats, active, min_mask_pixels)
            if fusion is not None:
                config.fusion = fusion
            if ego_bias is not None:
                config.ego_bias = ego_bias
            pipeline = FramePipeline(estimator, config, tf_lookup=tf_lookup)
        result = pipeline.process(frame)
        stats.frames += 1
        stats.instances += result.instances
        stats.estimated += len(result.estimates)
        stats.fused += sum(1 for e in result.estimates if e.fused)
        stats.add_skips(result.skipped)
        if result.up_source is not None:
            stats.up_sources[result.up_source] += 1
        if len(stats.label_values) < 64:
            stats.label_values.update(int(v) for v in np.unique(frame.labels)[:64] if v != 0)
        stamp = ns_to_sec_nanosec(frame.stamp_ns)
        if result.fusion_error:
            stats.add_skips([Skip("no_fusion_pose", result.fusion_error)])
        if result.ego_bias_error:
            stats.add_skips([Skip("no_ego_bias_pose", result.ego_bias_error)])
        records += [ObjectRecord.of_estimate(stamp, e) for e in result.estimates]
        if per_frame is not None:
            per_frame += [ObjectRecord.of_estimate(stamp, e) for e in result.per_frame]
        if progress:
            print(f"\rframe {stats.frames}: {stats.estimated}/{stats.instances} estimated", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    if pipeline is not None and pipeline.fusion is not None:
        stats.fusion = dict(pipeline.fusion.stats)
    stats.seconds = time.perf_counter() - t0
    return records, stats


def no_instance_error(stats: PredictStats, bag: Path) -> str | None:
    """The error to report when no label of the whole bag matched the label convention, else None."""
    if stats.frames == 0:
        return f"bag {bag} has no frame with colour, depth and segmentation at matching stamps"
    if stats.instances or stats.skips.get("small_mask"):
        return None
    from selfpose_ros.conventions import LABEL_DIVISOR

    if not stats.label_values:
        return f"the segmentation of all {stats.frames} frames is background (0) only: no object to estimate"
    seen = ", ".join(str(v) for v in sorted(stats.label_values)[:12])
    return (f"no segmentation value in {bag} matches the label convention category_index * {LABEL_DIVISOR} + "
            f"instance (category_index 1..N over the label categories); values seen: {seen}. Remap them, or "
            "set the bag's label categories (docs/dataset.md)")


def run(args: argparse.Namespace) -> int:
    """Predict and write JSON lines; return 0, 2 on bad input, 3 when no label of the bag matched the convention."""
    from selfpose_ros.eval.io_jsonl import write_records
    from selfpose_ros.inference.backends import make_estimator
    from selfpose_ros.inference.estimator import SolverOptions

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
    try:
        reach = {} if args.mask_reach_px is None else {"mask_reach_px": args.mask_reach_px}
        options = SolverOptions(min_inliers=args.min_inliers, icp=not args.no_icp, device=args.device, **reach)
        if cats is None and args.model != "prior_fit":
            from selfpose_ros.model.checkpoint import read_header

            cats = list(read_header(args.model)["categories"])
        estimator = make_estimator(args.model, cats or _all_categories(), options)
        missing = getattr(estimator, "missing_categories", [])
        if missing:  # asked for by name: an error here, unlike a node's label list
            raise ValueError(f"{args.model} covers categories {estimator.categories}, but {missing} were requested")
        fusion = None
        if args.fuse:
            from selfpose_ros.inference.fusion_track import FusionConfig

            fusion = FusionConfig(frame=args.fusion_frame)
        ego_bias = None
        if args.ego_bias:
            from selfpose_ros.inference.ego_bias import EgoBiasConfig

            ego_bias = EgoBiasConfig(frame=args.fusion_frame)
        records, stats = predict_bag(estimator, bags[0], cats, min_mask_pixels=args.min_mask_pixels,
                                     use_up=not args.no_up, world_frame=args.world_frame,
                                     max_frames=args.max_frames, progress=sys.stderr.isatty(), fusion=fusion,
                                     ego_bias=ego_bias)
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
    print("\n".join(stats.summary_lines()))
    problem = no_instance_error(stats, args.bag)
    if problem:
        print(f"selfpose predict: error: {problem}", file=sys.stderr)
        return 3
    return 0


def _all_categories() -> list[str]:
    from selfpose_ros.conventions import CATEGORIES

    return list(CATEGORIES)
