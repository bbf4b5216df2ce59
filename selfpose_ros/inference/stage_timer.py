"""Per-stage timing of the pipeline (conversion, instances, model, solve, publish), thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates wall time per named stage; ``summary()`` gives mean milliseconds per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def add(self, stage: str, seconds: float) -> None:
        """Add one measurement of ``stage``."""
        with self._lock:
            self._total[stage] = self._total.get(stage, 0.0) + seconds
            self._count[stage] = self._count.get(stage, 0) + 1

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        """Measure the enclosed block as one call of ``stage``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0)

    def summary(self) -> dict[str, float]:
        """Return the mean milliseconds per call of every stage."""
        with self._lock:
            return {k: 1e3 * self._total[k] / self._count[k] for k in self._total}

    def totals(self) -> dict[str, float]:
        """Return the total seconds of every stage."""
        with self._lock:
            return dict(self._total)
