"""Helpers for tests that talk real DDS: skip cleanly without ROS, spawn node processes, collect messages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def require_rclpy() -> Any:
    """Return rclpy; skip the test without ROS, unless SELFPOSE_REQUIRE_ROS=1 demands it (CI)."""
    if os.environ.get("SELFPOSE_REQUIRE_ROS") == "1":
        import rclpy

        return rclpy
    return pytest.importorskip("rclpy", reason="ROS 2 (rclpy) not available: run scripts/bootstrap.sh")


class NodeProcess:
    """A node running in its own Python process; output goes to a log file shown on failure."""

    def __init__(self, module: str, *args: str, log_dir: Path, name: str | None = None) -> None:
        self.log_path = log_dir / f"{name or module.rsplit('.', 1)[-1]}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        """Return everything the process printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int | None = None, timeout: float = 10.0) -> int:
        """Send SIGINT (or ``sig``) and wait; kill if it hangs. Return the exit code."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if sig is None else sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def spin_until(node: Any, done: Callable[[], bool], timeout: float, proc: NodeProcess | None = None) -> bool:
    """Spin ``node`` until ``done()`` or ``timeout`` seconds; fail early if ``proc`` died."""
    import rclpy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        if proc is not None and proc.proc.poll() is not None:
            pytest.fail(f"node process exited with {proc.proc.returncode}:\n{proc.output()}")
        rclpy.spin_once(node, timeout_sec=0.05)
    return done()


@contextmanager
def ros_node(name: str) -> Iterator[Any]:
    """An rclpy context with one node named ``name``: init, yield the node, then destroy it and shut down."""
    rclpy = require_rclpy()
    rclpy.init()
    node = rclpy.create_node(name)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown()
