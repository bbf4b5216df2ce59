"""Approximate-time synchronisation of N message streams, with message_filters semantics.

``ApproximateTimeSynchronizer`` here is the pure-Python core (no rclpy): feed it ``(index, stamp_ns, msg)``
and it calls back with one message per stream when their stamps agree within ``slop``. It follows the
Python message_filters algorithm: each stream keeps its newest ``queue_size`` messages keyed by stamp; a
new message is the pivot, every other stream proposes its stamps within ``slop`` of it, nearest first,
and the first combination whose total spread is below ``slop`` is emitted and removed from the queues.
``make_synchronizer`` (in sync_subscribers.py) wires it to rclpy, or uses message_filters when present.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any


class ApproximateTimeSynchronizer:
    """Match messages from ``n`` streams whose stamps lie within ``slop`` seconds of each other."""

    def __init__(self, n: int, queue_size: int, slop: float, callback: Callable[..., Any]) -> None:
        if n < 1:
            raise ValueError(f"need at least one stream, got {n}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not slop >= 0.0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        self.queue_size = int(queue_size)
        self.slop_ns = int(round(slop * 1e9))
        self._callback = callback
        self._queues: list[dict[int, Any]] = [{} for _ in range(n)]
        self._lock = threading.Lock()

    def add(self, index: int, stamp_ns: int, msg: Any) -> bool:
        """Queue ``msg`` of stream ``index``; emit a matched set if one forms. Return True if emitted."""
        with self._lock:
            queue = self._queues[index]
            queue[stamp_ns] = msg
            while len(queue) > self.queue_size:
                del queue[min(queue)]
            matched = self._match(index, stamp_ns)
        if matched is None:
            return False
        self._callback(*matched)
        return True

    def _match(self, pivot_index: int, pivot_stamp: int) -> list[Any] | None:
        candidates: list[list[int]] = []
        for i, queue in enumerate(self._queues):
            if i == pivot_index:
                candidates.append([pivot_stamp])
                continue
            near = sorted((abs(s - pivot_stamp), s) for s in queue if abs(s - pivot_stamp) <= self.slop_ns)
            if not near:
                return None
            candidates.append([s for _, s in near])
        for stamps in itertools.product(*candidates):
            if max(stamps) - min(stamps) <= self.slop_ns:
                msgs = [queue.pop(s) for queue, s in zip(self._queues, stamps)]
                return msgs
        return None

    def pending(self) -> Sequence[int]:
        """Return the number of queued messages per stream."""
        with self._lock:
            return [len(q) for q in self._queues]
