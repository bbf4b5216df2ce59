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
    """A node running in its own Python process; output goes to a log file shown on failure.

    Every instance is listed in ``NodeProcess.started`` until stopped, so a test that fails before its own
    cleanup cannot leave a node publishing into the next test module (conftest stops the leftovers).
    """

    started: list[NodeProcess] = []

    def __init__(self, module: str, *args: str, log_dir: Path, name: str | None = None) -> None:
        self.log_path = log_dir / f"{name or module.rsplit('.', 1)[-1]}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )
        NodeProcess.started.append(self)

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
        if self in NodeProcess.started:
            NodeProcess.started.remove(self)
        return self.proc.returncode


def stop_leftover_processes() -> list[str]:
    """Kill every NodeProcess still running (SIGKILL: a leftover is a failed test's); return their log names."""
    import signal

    left = [p for p in NodeProcess.started if p.proc.poll() is None]
    for p in list(NodeProcess.started):
        p.stop(signal.SIGKILL)
    return [p.log_path.name for p in left]


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


def call_service(node: Any, client: Any, make_request: Callable[[], Any], proc: NodeProcess | None = None,
                 timeout: float = 10.0, attempts: int = 3) -> Any:
    """Call a service and return its response, asking again when no answer came within ``timeout`` seconds.

    Fast DDS can drop a response while the server has not yet matched the client's response reader
    ("failed to send response (timeout): client will not receive response"), most often right after the
    client was created on a loaded machine. Only idempotent services (status, get_parameters) should be
    asked more than once (``attempts`` > 1). Fails the test, naming the service, when no attempt got an answer.
    """
    assert client.wait_for_service(timeout_sec=max(timeout, 30.0)), proc.output() if proc else client.srv_name
    for _ in range(attempts):
        future = client.call_async(make_request())
        if spin_until(node, future.done, timeout, proc):
            return future.result()
        if hasattr(client, "remove_pending_request"):  # rclpy >= Humble; frees the unanswered request
            client.remove_pending_request(future)
    pytest.fail(f"no answer from {client.srv_name} in {attempts} x {timeout:.0f} s"
                + (f":\n{proc.output()}" if proc else ""))


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
