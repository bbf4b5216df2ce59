"""``selfpose bag-repair PATH... [--out DIR] [--force] [--dry-run]``: repair bags whose writer died.

The command is implemented in :mod:`selfpose_ros.recording.repair` (also run by
``python -m selfpose_ros.recording.repair``); docs/recorder.md describes what it does.
"""

from __future__ import annotations

from selfpose_ros.recording.repair import add_arguments, run

__all__ = ["add_arguments", "run"]
