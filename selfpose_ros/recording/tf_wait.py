"""Frames waiting for their TF: TF usually arrives a little after the image, so a frame waits (in stamp order)
until its camera pose can be looked up, or until ``timeout_s`` has passed since it arrived."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Resolved(Generic[T, R]):
    """A frame leaving the queue: with the lookup's ``result``, or with ``error`` when it waited too long."""

    item: T
    result: R | None
    error: str | None


class TfWaitQueue(Generic[T, R]):
    """FIFO of frames; ``drain`` resolves them in order and never lets a later frame overtake an earlier one."""

    def __init__(self, timeout_s: float, max_len: int = 30) -> None:
        if not timeout_s >= 0:
            raise ValueError(f"timeout_s must be >= 0, got {timeout_s}")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.timeout_s = float(timeout_s)
        self.max_len = int(max_len)
        self._queue: deque[tuple[T, float]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, item: T, now_s: float) -> T | None:
        """Queue ``item`` (arrived at ``now_s``); return the oldest frame if it had to make room, else None."""
        evicted = self._queue.popleft()[0] if len(self._queue) >= self.max_len else None
        self._queue.append((item, now_s))
        return evicted

    def drain(self, lookup: Callable[[T], R], now_s: float, *, final: bool = False) -> Iterator[Resolved[T, R]]:
        """Yield frames whose ``lookup`` succeeds, or that waited ``timeout_s`` (``final``: all, no waiting).

        ``lookup`` raises LookupError while the TF is not there yet.
        """
        while self._queue:
            item, arrived = self._queue[0]
            try:
                result = lookup(item)
            except LookupError as exc:
                if final or now_s - arrived >= self.timeout_s:
                    self._queue.popleft()
                    yield Resolved(item, None, str(exc))
                    continue
                return
            self._queue.popleft()
            yield Resolved(item, result, None)
