"""Tell a bag that is being written from one whose writer is gone: an advisory lock on its MCAP file.

The recorder holds an exclusive ``flock`` on the MCAP file while it writes it; the kernel drops the lock when
the recorder closes the file or dies, SIGKILL included. ``selfpose bag-repair`` refuses to repair a locked bag
in place: cutting a file that is still growing would corrupt it. Where ``fcntl`` is missing (Windows),
nothing is locked and :func:`held_by_writer` answers False.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None


class WriterLock:
    """An exclusive advisory lock on ``path`` held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Lock the file (it must exist); return False when another process holds the lock."""
        if fcntl is None or self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def held_by_writer(path: str | Path) -> bool:
    """True when another process holds the writer lock on the file at ``path``."""
    if fcntl is None or not Path(path).is_file():
        return False
    lock = WriterLock(path)
    free = lock.acquire()
    lock.release()
    return not free
