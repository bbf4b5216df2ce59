"""Warnings that cannot flood a log: at most one line per warning *kind* per period, in bounded memory.

The throttle is keyed by a stable kind chosen by the caller (``"tf_unavailable"``, ``"frame_rejected"``...),
never by the formatted text, so texts may carry stamps and numbers. Repeats inside the period are counted and
reported on the next line of that kind. At most ``max_kinds`` kinds are remembered (least recently used
first out), so memory stays constant however long the node runs and whatever the texts hold. Thread-safe:
nodes warn from executor threads and worker threads at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class ThrottledWarnings:
    """Log each warning kind at most once per ``period`` seconds, counting the repeats in between."""

    def __init__(self, log: Any, period: float, *, max_kinds: int = 64,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not period >= 0:
            raise ValueError(f"period must be >= 0 seconds, got {period}")
        if max_kinds < 1:
            raise ValueError(f"max_kinds must be >= 1, got {max_kinds}")
        self._emit: Callable[[str], Any] = log.get_logger().warning if hasattr(log, "get_logger") else log
        self.period = float(period)
        self.max_kinds = int(max_kinds)
        self._clock = clock
        self._lock = threading.Lock()
        self._kinds: OrderedDict[str, list] = OrderedDict()  # kind -> [time last logged, repeats since]
        self.count = 0  #: every warning, logged or not
        self.logged = 0  #: warnings that became a log line

    def __len__(self) -> int:
        """Number of kinds remembered (never more than ``max_kinds``)."""
        return len(self._kinds)

    def warn(self, kind: str, text: str) -> bool:
        """Log ``text`` unless a ``kind`` warning was logged less than ``period`` s ago; return True if logged."""
        with self._lock:
            self.count += 1
            now = self._clock()
            entry = self._kinds.get(kind)
            if entry is not None:
                self._kinds.move_to_end(kind)
                if now - entry[0] < self.period:
                    entry[1] += 1
                    return False
            repeats, since = (entry[1], now - entry[0]) if entry is not None else (0, 0.0)
            self._kinds[kind] = [now, 0]
            while len(self._kinds) > self.max_kinds:
                self._kinds.popitem(last=False)
            self.logged += 1
        if repeats:
            text = f"{text} [{repeats} more '{kind}' warning(s) in the last {since:.0f} s]"
        self._emit(text)
        return True
