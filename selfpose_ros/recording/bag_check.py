"""Is a rosbag2 bag safe to read? A quick check before a long run, and repaired temporary copies on request.

:func:`check_bag` looks at what a dead writer leaves behind, without reading the messages: the
``selfpose_ros.incomplete`` marker the recorder keeps in metadata.yaml while a bag is open, the MCAP magic at
both ends of the file (the footer is written last), and whether rosbags' Reader opens the bag (it reads the
MCAP summary or the sqlite3 schema). :func:`checked_bags` turns the problems into one line per bag that names
it and the repair command, or, with ``repair=True``, copies each incomplete bag into a work folder, repairs
the copy with :func:`selfpose_ros.recording.bag_repair.repair_bag` and returns the copy's path in its place; the
original is never touched. The trainer, ``selfpose predict`` and ``selfpose eval`` call it before they start.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from selfpose_ros.recording.bag_metadata import INCOMPLETE_KEY, read_metadata
from selfpose_ros.recording.bag_repair import repair_bag
from selfpose_ros.recording.mcap_scan import MAGIC

#: The command every message points to.
REPAIR_COMMAND = "selfpose bag-repair"


class BagCheckError(ValueError):
    """One or more bags cannot be read as they are; ``lines`` holds one line per bag."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


@dataclass(frozen=True)
class BagStatus:
    """What :func:`check_bag` found: ``state`` is ``ok``, ``incomplete`` (repairable), ``unreadable`` or ``missing``."""

    path: Path
    state: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the bag can be read as it is."""
        return self.state == "ok"

    def line(self, repair_flag: str | None = "--repair") -> str:
        """One line naming the bag, what is wrong and how to repair it ('' when the bag is fine)."""
        if self.ok:
            return ""
        if self.state == "missing":
            return f"bag {self.path} does not exist"
        fix = f"repair it with `{REPAIR_COMMAND} {self.path}`"
        if self.state == "unreadable":
            fix = f"`{REPAIR_COMMAND} {self.path}` may recover its intact part"
        also = f", or pass {repair_flag} to read a repaired temporary copy" if repair_flag else ""
        return f"bag {self.path} is {self.state} ({self.reason}); {fix}{also}"


def _mcap_files(path: Path, info: dict | None) -> list[Path]:
    if path.suffix == ".mcap":
        return [path]
    if info is not None and info.get("storage_identifier") == "mcap":
        return [path / name for name in info.get("relative_file_paths") or []]
    return sorted(path.glob("*.mcap"))


def _mcap_end_problem(mcap: Path) -> str:
    """'' when the MCAP file starts and ends with the magic bytes, else what is wrong."""
    if not mcap.is_file():
        return f"{mcap.name} is missing"
    size = mcap.stat().st_size
    with open(mcap, "rb") as f:
        head = f.read(len(MAGIC))
        if size < 2 * len(MAGIC):
            return f"{mcap.name} holds only {size} bytes"
        f.seek(size - len(MAGIC))
        tail = f.read(len(MAGIC))
    if head != MAGIC:
        return f"{mcap.name} is not an MCAP file"
    if tail != MAGIC:
        return f"{mcap.name} ends without its MCAP footer (its writer was killed or is still writing)"
    return ""


def check_bag(path: str | Path) -> BagStatus:
    """Check the bag at ``path`` (a rosbag2 directory, or an .mcap / .db3 file) without reading its messages."""
    p = Path(path)
    if not p.exists():
        return BagStatus(p, "missing", "does not exist")
    info = None
    if p.is_dir():
        try:
            info = read_metadata(p)
        except ValueError as exc:
            return BagStatus(p, "incomplete" if _mcap_files(p, None) else "unreadable", str(exc))
        mcaps = _mcap_files(p, info)
        if info is None:
            if mcaps:
                return BagStatus(p, "incomplete", "metadata.yaml is missing")
            return BagStatus(p, "unreadable", "neither metadata.yaml nor an .mcap file: not a rosbag2 directory")
        marked = INCOMPLETE_KEY in (info.get("custom_data") or {})
    else:
        mcaps, marked = _mcap_files(p, None), False
    problems = [text for text in map(_mcap_end_problem, mcaps) if text]
    if marked:
        problems.insert(0, "metadata.yaml marks it incomplete")
    if problems:
        state = "unreadable" if any("not an MCAP" in t or "is missing" in t for t in problems) else "incomplete"
        return BagStatus(p, state, "; ".join(problems))
    try:
        from rosbags.rosbag2 import Reader

        with Reader(p):
            pass
    except Exception as exc:  # ReaderError, yaml or sqlite errors...: say what the reader said, in one line
        text = " ".join(str(exc).split()) or type(exc).__name__
        return BagStatus(p, "unreadable", f"{type(exc).__name__}: {text}")
    return BagStatus(p, "ok")


def repaired_copy(path: str | Path, workdir: str | Path) -> Path:
    """Copy the bag at ``path`` into ``workdir`` and repair the copy; return the copy (a bag directory)."""
    src = Path(path)
    dst = Path(workdir) / (src.name if src.is_dir() else src.stem)
    n = 1
    while dst.exists():
        n += 1
        dst = dst.with_name(f"{src.name if src.is_dir() else src.stem}-{n}")
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        dst.mkdir(parents=True)
        shutil.copy2(src, dst / src.name)
    repair_bag(dst)
    return dst


def checked_bags(paths: Sequence[str | Path], *, repair: bool = False, workdir: str | Path | None = None,
                 repair_flag: str | None = "--repair") -> list[Path]:
    """Check every bag; return the paths to read, in order (repaired copies in ``workdir`` when ``repair``).

    Raise :class:`BagCheckError` with one line per bag that cannot be read (or repaired).
    """
    if repair and workdir is None:
        raise ValueError("repair=True needs a workdir for the repaired copies")
    out, lines = [], []
    for path in paths:
        status = check_bag(path)
        if status.ok:
            out.append(status.path)
        elif repair and status.state != "missing":
            try:
                copy = repaired_copy(status.path, workdir)
            except (ValueError, OSError) as exc:
                lines.append(f"bag {status.path} is {status.state} ({status.reason}) and could not be repaired: "
                             f"{' '.join(str(exc).split())}")
                continue
            after = check_bag(copy)
            if after.ok:
                out.append(copy)
            else:
                lines.append(f"bag {status.path} is {status.state} ({status.reason}); its repaired copy {copy} "
                             f"is still {after.state} ({after.reason})")
        else:
            lines.append(status.line(repair_flag))
    if lines:
        raise BagCheckError(lines)
    return out
