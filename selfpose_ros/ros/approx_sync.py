"""Approximate-time synchronisation of N message streams, with message_filters' semantics exactly.

``ApproximateTimeSynchronizer`` here is the pure-Python core (no rclpy): feed it ``(index, stamp_ns, msg)``
and it calls back with one message per stream when their stamps agree. It makes the same decisions as the
Python ``message_filters.ApproximateTimeSynchronizer`` of Humble, Jazzy and Rolling, for any arrival order:

1. the message is stored in its stream's queue under its stamp (a message with a stamp already queued
   replaces that one), then the queue drops its oldest stamps until it holds at most ``queue_size``;
2. if the new message was itself dropped (older than everything in its full queue), nothing happens;
3. every other stream proposes its queued stamps within ``slop`` of the new one (``|delta| <= slop``),
   nearest first (ties in the order they were queued); a stream with none ends the attempt;
4. the combinations are tried in ``itertools.product`` order, and the first whose spread
   ``max - min`` is strictly below ``slop`` is emitted and removed from the queues.

So ``slop = 0`` never matches, as in message_filters. ``slop`` is converted to nanoseconds the way
``rclpy.duration.Duration(seconds=slop)`` does (truncation). ``SyncedSubscribers`` in sync_subscribers.py
wires this to rclpy, or uses message_filters itself when it imports.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

NS_PER_S = 1_000_000_000


class ApproximateTimeSynchronizer:
    """Match messages from ``n`` streams whose stamps spread less than ``slop`` seconds."""

    def __init__(self, n: int, queue_size: int, slop: float, callback: Callable[..., Any]) -> None:
        if n < 1:
            raise ValueError(f"need at least one stream, got {n}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not slop >= 0.0:
            raise ValueError(f"slop must be >= 0 seconds, got {slop}")
        self.queue_size = int(queue_size)
        self.slop_ns = int(slop * NS_PER_S)
        self._callback = callback
        self._queues: list[dict[int, Any]] = [{} for _ in range(n)]
        self._lock = threading.Lock()

    def add(self, index: int, stamp_ns: int, msg: Any) -> bool:
        """Queue ``msg`` of stream ``index``; emit a matched set if one forms. Return True if emitted."""
        with self._lock:
            matched = self._add_locked(index, int(stamp_ns), msg)
        if matched is None:
            return False
        self._callback(*matched)
        return True

    def _add_locked(self, index: int, stamp_ns: int, msg: Any) -> list[Any] | None:
        queue = self._queues[index]
        queue[stamp_ns] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
        if stamp_ns not in queue:  # older than everything in its full queue: dropped on arrival
            return None
        candidates: list[list[int]] = []
        for i, other in enumerate(self._queues):
            if i == index:
                candidates.append([stamp_ns])
                continue
            near = [s for s in other if abs(s - stamp_ns) <= self.slop_ns]
            if not near:
                return None
            near.sort(key=lambda s: abs(s - stamp_ns))  # stable: equal distances keep queue order
            candidates.append(near)
        for stamps in itertools.product(*candidates):
            if max(stamps) - min(stamps) < self.slop_ns:
                return [q.pop(s) for q, s in zip(self._queues, stamps)]
        return None

    def pending(self) -> Sequence[int]:
        """Return the number of queued messages per stream."""
        with self._lock:
            return [len(q) for q in self._queues]
