"""``selfpose eval``: score predictions against ground truth with NOCS-style metrics and write plots."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from selfpose_ros.cli.bag_guard import add_repair_argument, readable_bags, reader_error_line, reader_errors
from selfpose_ros.eval.io_jsonl import ObjectRecord, read_ground_truth, read_predictions
from selfpose_ros.eval.nocs_metrics import EvalConfig, evaluate
from selfpose_ros.eval.report_table import format_table, report_to_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``selfpose eval``."""
    parser.add_argument("--pred", required=True, type=Path, help="predictions, JSON lines")
    parser.add_argument("--gt", required=True, type=Path,
                        help="ground truth: JSON lines, or a rosbag2 (directory, .mcap or .db3) with "
                             "/ground_truth/objects")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for metrics.json and PNG plots (AP curves, error histograms)")
    parser.add_argument("--min-visibility", type=float, default=0.0,
                        help="ignore ground-truth objects less visible than this fraction (default 0)")
    add_repair_argument(parser)


def is_bag(path: Path) -> bool:
    """True for a rosbag2 directory, .mcap or .db3 file (ground truth from /ground_truth/objects)."""
    return path.is_dir() or path.suffix in (".mcap", ".db3")


def load_ground_truth(path: Path) -> list[ObjectRecord]:
    """Read ground truth from JSON lines or a rosbag2 directory/file."""
    if is_bag(path):
        from selfpose_ros.eval.io_bag import load_gt_from_bag  # needs rosbags; only for bags

        return load_gt_from_bag(path)
    return read_ground_truth(path)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, write metrics.json and plots when ``--out`` is given; return 0 or 2."""
    if not 0.0 <= args.min_visibility <= 1.0:
        print(f"selfpose eval: error: --min-visibility must be in [0, 1], got {args.min_visibility}",
              file=sys.stderr)
        return 2
    gt = args.gt
    if is_bag(gt) and gt.exists():
        bags = readable_bags("selfpose eval", [gt], args.repair)
        if bags is None:
            return 2
        gt = bags[0]
    try:
        predictions = read_predictions(args.pred)
        ground_truth = load_ground_truth(gt)
    except (ValueError, FileNotFoundError) as exc:
        print(f"selfpose eval: error: {exc}", file=sys.stderr)
        return 2
    except reader_errors() as exc:  # a damaged bag: one line, not a traceback
        print(reader_error_line("selfpose eval", exc), file=sys.stderr)
        return 2
    report = evaluate(predictions, ground_truth, EvalConfig(min_visibility=args.min_visibility))
    print(format_table(report))
    if args.out is not None:
        from selfpose_ros.eval.plots import write_plots  # matplotlib only when plots are asked for

        written = write_plots(report, args.out)
        metrics = args.out / "metrics.json"
        metrics.write_text(json.dumps(report_to_json(report), indent=1))
        print(f"wrote {metrics} and {len(written)} plots to {args.out}")
    return 0
