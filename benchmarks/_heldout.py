"""Held-out bags shared by the accuracy benchmarks: listing them, and keeping the frames of different bags apart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

#: Stamps of bag k are shifted by k * this many seconds before scoring, so frames of different bags never meet.
BAG_OFFSET_S = 1_000_000


def list_bags(root: Path) -> list[Path]:
    """The rosbag2 directories directly under ``root`` (sorted); exit with a message when there are none."""
    bags = sorted(p for p in root.iterdir() if (p / "metadata.yaml").is_file())
    if not bags:
        raise SystemExit(f"no bags in {root}")
    return bags


def shift_record(rec, k: int):
    """``rec`` (an ObjectRecord) with its stamp moved into bag ``k``'s own range."""
    return dataclasses.replace(rec, frame=(rec.frame[0] + k * BAG_OFFSET_S, rec.frame[1]))
