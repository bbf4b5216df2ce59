"""Before a recording starts: the output folder exists, takes a write, and has at least a minimum of free space.

``check_output_dir`` creates the folder, writes and removes a small probe file (a read-only mount, missing
permissions or a full disk fail here, with the operating system's reason) and compares the free space with
the minimum. The recorder's ``~/start`` answers ``success: false`` with the message of
:class:`OutputDirError` instead of starting a recording that would fail a moment later.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

#: Size of the probe file written by :func:`check_output_dir`, bytes.
PROBE_BYTES = 64 * 1024


class OutputDirError(RuntimeError):
    """The output folder cannot take a recording; the message says why and what to do."""


def _write_probe(folder: Path, size: int) -> None:
    probe = folder / f".selfpose_write_probe_{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
    finally:
        try:
            probe.unlink()
        except FileNotFoundError:
            pass


def check_output_dir(folder: str | Path, min_free_bytes: int, *, probe_bytes: int = PROBE_BYTES) -> int:
    """Create ``folder`` if needed and check a recording can be written there; return its free bytes.

    Raise :class:`OutputDirError` when it cannot be created or written, or has less than ``min_free_bytes``.
    """
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create output_dir {path}: {exc.strerror or exc}") from exc
    if not path.is_dir():
        raise OutputDirError(f"output_dir {path} is not a directory")
    try:
        _write_probe(path, probe_bytes)
    except OSError as exc:
        why = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else (exc.strerror or str(exc))
        raise OutputDirError(f"output_dir {path} is not writable: {why}; free space or choose another "
                             "output_dir, then call ~/start again") from exc
    free = shutil.disk_usage(path).free
    if free < min_free_bytes:
        raise OutputDirError(f"output_dir {path} has {free / 1e6:.1f} MB free, less than min_free_space_mb "
                             f"({min_free_bytes / 1e6:.1f} MB); free space or lower min_free_space_mb, then call "
                             "~/start again")
    return free
