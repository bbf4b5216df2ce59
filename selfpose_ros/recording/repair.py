"""``selfpose bag-repair PATH... [--out DIR] [--force] [--dry-run]``: repair bags whose writer died.

Each PATH is a bag directory or a directory of bags (the recorder's ``output_dir``). An incomplete bag is
repaired in place, or copied to ``DIR/<bag name>`` and the copy repaired with ``--out`` (the original is then
untouched), and the command prints what was recovered: messages per topic and keyframes. A complete bag is
left alone unless ``--force``; a bag whose recorder is still writing it (its MCAP file is locked) is never
repaired in place. Exit status: 0 when every bag is complete or was repaired, 1 otherwise.
The command lives here (below cli/) so that ``python -m selfpose_ros.recording.repair`` runs it too; the repair
itself is ``bag_repair.repair_bag``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from selfpose_ros.recording.bag_check import check_bag
from selfpose_ros.recording.bag_metadata import read_metadata
from selfpose_ros.recording.bag_repair import RepairReport, repair_bag
from selfpose_ros.recording.messages import KEYFRAME_TOPIC
from selfpose_ros.recording.writer_lock import held_by_writer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``selfpose bag-repair``."""
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="bag directory, or a directory of bags (e.g. the recorder's output_dir)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="repair copies written to DIR/<bag name> instead of the bags themselves")
    parser.add_argument("--force", action="store_true",
                        help="also rescan complete bags and rebuild their metadata.yaml")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")


def find_bags(path: Path) -> list[Path]:
    """``path`` itself when it is a bag directory, else its sub-directories that are bags (may be empty)."""
    def is_bag(d: Path) -> bool:
        return d.is_dir() and ((d / "metadata.yaml").is_file() or any(d.glob("*.mcap")))

    if is_bag(path):
        return [path]
    if path.is_dir():
        return sorted(d for d in path.iterdir() if is_bag(d))
    return []


def _counts_before(bag: Path) -> dict[str, int]:
    """Message counts per topic in metadata.yaml before the repair (empty when unreadable)."""
    try:
        info = read_metadata(bag) or {}
    except ValueError:
        return {}
    out = {}
    for item in info.get("topics_with_message_count") or []:
        name = (item.get("topic_metadata") or {}).get("name")
        if name:
            out[name] = int(item.get("message_count") or 0)
    return out


def _print_report(report: RepairReport, before: dict[str, int], where: str) -> None:
    print(f"{report.bag}: {where}: {report.action} ({report.detail}); {report.messages} messages in "
          f"{report.chunks} chunks recovered, {report.bytes_dropped} bytes dropped")
    width = max([len(t) for t in report.topics] + [5])
    print(f"    {'topic':<{width}}  recovered  metadata.yaml before")
    for topic, n in sorted(report.topics.items()):
        print(f"    {topic:<{width}}  {n:>9}  {before.get(topic, '-'):>20}")
    keyframes = report.topics.get(KEYFRAME_TOPIC, 0)
    note = f" (metadata.yaml counted {before[KEYFRAME_TOPIC]} flushed)" if KEYFRAME_TOPIC in before else ""
    print(f"    keyframes recovered: {keyframes}{note}")


def repair_one(bag: Path, out: Path | None, force: bool, dry_run: bool) -> str:
    """Repair one bag and print what happened; return 'repaired', 'complete' or 'failed'."""
    status = check_bag(bag)
    if status.ok and not force:
        print(f"{bag}: complete, not touched (--force rescans it and rebuilds its metadata.yaml)")
        return "complete"
    if out is None and not dry_run and any(held_by_writer(f) for f in bag.glob("*.mcap")):
        print(f"selfpose bag-repair: error: {bag} is being written by a running recorder (its MCAP file is locked); "
              "stop the recording first, or repair a copy with --out DIR", file=sys.stderr)
        return "failed"
    before = _counts_before(bag)
    target = bag
    if out is not None and not dry_run:
        target = out / bag.name
        if target.exists():
            print(f"selfpose bag-repair: error: {target} exists; choose another --out or remove it", file=sys.stderr)
            return "failed"
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(bag, target)
    try:
        report = repair_bag(target, dry_run=dry_run, force=force)
    except (ValueError, OSError) as exc:
        print(f"selfpose bag-repair: error: {bag} cannot be repaired: {' '.join(str(exc).split())}", file=sys.stderr)
        return "failed"
    where = "would be repaired (dry run)" if dry_run else \
        ("repaired in place" if target == bag else f"repaired copy written to {target}")
    if report.action == "none":
        where = "nothing to repair"
    _print_report(report, before, where)
    return "repaired"


def run(args: argparse.Namespace) -> int:
    """Repair every bag named by ``args.paths``; return 0 when all are complete or repaired, else 1."""
    results = []
    for path in args.paths:
        bags = find_bags(path)
        if not bags:
            print(f"selfpose bag-repair: error: {path} is neither a bag directory nor a directory of bags",
                  file=sys.stderr)
            results.append("failed")
        for bag in bags:
            if args.out is not None and bag.resolve().parent == args.out.resolve():
                print(f"selfpose bag-repair: error: --out {args.out} is where {bag} already is", file=sys.stderr)
                results.append("failed")
                continue
            results.append(repair_one(bag, args.out, args.force, args.dry_run))
    done = "would be repaired (dry run)" if args.dry_run else "repaired"
    print(f"selfpose bag-repair: {results.count('repaired')} {done}, {results.count('complete')} complete "
          f"(not touched), {results.count('failed')} failed")
    return 1 if "failed" in results else 0


if __name__ == "__main__":  # the same command as `selfpose bag-repair`
    _parser = argparse.ArgumentParser(prog="python -m selfpose_ros.recording.repair",
                                      description="Repair rosbag2 MCAP bags whose writer died (selfpose bag-repair).")
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
