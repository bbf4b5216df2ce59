"""A worker thread with a queue of one: a new item replaces an unprocessed one, and drops are counted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LatestWorker:
    """Run ``handler(item)`` off the caller's thread on the newest submitted item only."""

    def __init__(
        self,
        handler: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "selfpose-worker",
    ) -> None:
        self._handler = handler
        self._on_error = on_error
        self.errors = 0
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._stop = False
        self.submitted = 0
        self.dropped = 0
        self.processed = 0
        self.busy = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> bool:
        """Queue ``item``; return False when it replaced an item that was never processed (a drop)."""
        with self._cond:
            replaced = self._has_item
            self._item, self._has_item = item, True
            self.submitted += 1
            if replaced:
                self.dropped += 1
            self._cond.notify()
        return not replaced

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._has_item and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                item, self._item, self._has_item = self._item, None, False
                self.busy = True
            try:
                self._handler(item)
            except Exception as exc:  # a bad frame must not kill the worker
                self.errors += 1
                if self._on_error is not None and not self._stop:  # after stop(): the node is going away
                    self._on_error(exc)
            finally:
                with self._cond:
                    self.busy = False
                    self.processed += 1
                    self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running; return False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._has_item and not self.busy, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the item in progress (a queued item is discarded); errors raised by that item
        after this call are counted but not reported (the node it publishes through is going away)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)
