"""Run one node in its own process: init, spin, an orderly stop on SIGINT/SIGTERM, clear parameter errors.

Shutdown order is the node's, not the signal's: SIGINT and SIGTERM only set a flag (rclpy's own handlers,
which shut the context down at once, are not installed, and Python's KeyboardInterrupt is never raised). The
spin loop then ends, in-flight callbacks finish, ``destroy_node`` stops the node's threads and closes its
files while the context is still valid, and only then is rclpy shut down. A second Ctrl-C while that runs
changes nothing: no traceback, exit status 0 (also when it lands while the interpreter exits).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

#: How long the spin loop waits for work before it checks for a stop request, seconds.
POLL_S = 0.1


class StopRequest:
    """SIGINT/SIGTERM handlers that only record the request (safe to receive any number of times)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signals: list[int] = []

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on (call from the main thread)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)
        self.event.set()

    def ignore_from_now_on(self) -> None:
        """Ignore SIGINT and SIGTERM while the process exits.

        Python restores the default action of signals it handled when the interpreter finalises (slow with
        torch loaded): a late Ctrl-C would then kill the process (status -2) although everything was closed.
        Ignored signals stay ignored; SIGKILL still ends a process that hangs.
        """
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)

    @property
    def requested(self) -> bool:
        """True once a stop signal came."""
        return self.event.is_set()


class OncePool:
    """A MultiThreadedExecutor's thread pool that takes a task once until a thread starts it.

    rclpy's MultiThreadedExecutor (Humble to Kilted; fixed by ros2/rclpy#1547 in rclpy 10.0.4) yields a task
    that its pool has queued but not started on every ``spin_once``, submits it again and returns at once: the
    spinning thread loops holding the GIL and floods the pool's queue, and callbacks behind it wait for seconds
    (docs/pose_estimator.md, "Latency: one executor thread"). Here a task already queued is not queued again,
    and the spinning thread sleeps a moment instead, so the pool's threads get the GIL and start it.
    """

    #: how long the spinning thread yields when asked to queue a task that is still queued, s
    YIELD_S = 0.0005

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self.skipped = 0  # submissions of a task still queued (what the rclpy bug would have queued again)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Queue ``fn`` unless it is queued and not started yet; then return None after a short yield."""
        key = id(fn)
        with self._lock:
            again = key in self._queued
            if again:
                self.skipped += 1
            else:
                self._queued.add(key)
        if again:
            time.sleep(self.YIELD_S)
            return None

        def run() -> Any:
            with self._lock:
                self._queued.discard(key)
            return fn(*args, **kwargs)

        return self._pool.submit(run)

    def shutdown(self, wait: bool = True, **kwargs: Any) -> None:
        """Shut the underlying pool down."""
        self._pool.shutdown(wait=wait, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def multi_threaded_executor(threads: int) -> MultiThreadedExecutor:
    """A MultiThreadedExecutor with ``threads`` threads whose pool is a :class:`OncePool` (where it has one)."""
    executor = MultiThreadedExecutor(num_threads=threads)
    pool = getattr(executor, "_executor", None)  # a ThreadPoolExecutor in Humble to Kilted
    if pool is not None and hasattr(pool, "submit"):
        executor._executor = OncePool(pool)
    return executor


def _init(args: Sequence[str] | None) -> None:
    argv = list(args) if args is not None else sys.argv
    try:  # rclpy >= Humble
        from rclpy.signals import SignalHandlerOptions
    except ImportError:  # older rclpy: its handlers shut the context down, then chain to ours
        rclpy.init(args=argv)
        return
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None, *, threads: int = 1) -> int:
    """Create the node with ``factory`` and spin it until a stop signal or shutdown; return an exit status.

    ``threads`` > 1 spins a MultiThreadedExecutor, so callbacks in different callback groups (TF, images)
    run concurrently; 1 spins a SingleThreadedExecutor.
    """
    stop = StopRequest()
    stop.install()
    _init(args)
    try:
        node = factory()
    except ValueError as exc:  # parameter validation: say what is wrong and exit non-zero
        print(f"[selfpose_ros] {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = multi_threaded_executor(threads) if threads > 1 else SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.requested and rclpy.ok():
            executor.spin_once(timeout_sec=POLL_S)
    except ExternalShutdownException:
        pass
    except Exception:
        if rclpy.ok() and not stop.requested:
            raise
    finally:
        _stop_executor(executor)
        node.destroy_node()
        rclpy.try_shutdown()
        stop.ignore_from_now_on()
    return 0


def _stop_executor(executor: SingleThreadedExecutor | MultiThreadedExecutor) -> None:
    """Let callbacks in flight finish, then shut the executor down.

    rclpy's Executor.shutdown destroys its guard condition before a MultiThreadedExecutor's thread pool has run
    the callbacks still queued; those then fail on the destroyed guard condition and print "The following
    exception was never retrieved" at exit. Draining the pool first (its ``_executor``, a ThreadPoolExecutor,
    in Humble to Kilted) avoids that; where the attribute is missing, the plain shutdown still stops cleanly.
    """
    pool = getattr(executor, "_executor", None)
    if pool is not None and hasattr(pool, "shutdown"):
        pool.shutdown(wait=True)
    executor.shutdown()
