"""The bag check every long-running command does first: train, predict and eval share it.

``readable_bags`` checks each bag (selfpose_ros.recording.bag_check) before any work starts. A bag that cannot
be read gets one line on stderr naming it and the repair command, and the caller exits non-zero; with
``--repair`` an incomplete bag is instead repaired into a temporary copy (removed when the process exits)
and the copy is read. The original bag is never modified here.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

#: The repair command (selfpose_ros.recording.bag_check.REPAIR_COMMAND; repeated so this import stays light).
REPAIR_COMMAND = "selfpose bag-repair"


def add_repair_argument(parser: argparse.ArgumentParser) -> None:
    """Register ``--repair``."""
    parser.add_argument("--repair", action="store_true",
                        help=f"read incomplete bags (recorder killed) through repaired temporary copies instead of "
                             f"stopping; `{REPAIR_COMMAND} BAG` repairs them for good")


def readable_bags(prog: str, paths: Sequence[str | Path], repair: bool) -> list[Path] | None:
    """The paths to read in place of ``paths``, or None after one stderr line per bag that cannot be read."""
    from selfpose_ros.recording.bag_check import BagCheckError, checked_bags

    workdir = None
    if repair:
        workdir = tempfile.mkdtemp(prefix="selfpose_repaired_")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    try:
        out = checked_bags(paths, repair=repair, workdir=workdir)
    except BagCheckError as exc:
        for line in exc.lines:
            print(f"{prog}: error: {line}", file=sys.stderr)
        return None
    for before, after in zip(paths, out):
        if Path(before) != after:
            print(f"{prog}: {before} is incomplete; reading its repaired temporary copy {after}", file=sys.stderr)
    return out


def reader_errors() -> tuple[type[Exception], ...]:
    """The exception types a damaged bag raises while it is read (rosbags' ReaderError), for an except clause."""
    try:
        from rosbags.rosbag2 import ReaderError
    except ImportError:
        return ()
    return (ReaderError,)


def reader_error_line(prog: str, exc: Exception) -> str:
    """One line for a bag that failed while being read (after it passed the quick check)."""
    return (f"{prog}: error: a bag could not be read: {type(exc).__name__}: {' '.join(str(exc).split())}; "
            f"`{REPAIR_COMMAND} --dry-run BAG` tells what is damaged, `{REPAIR_COMMAND} BAG` keeps its intact part")
