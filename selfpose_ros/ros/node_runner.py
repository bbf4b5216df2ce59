"""Run one node in its own process: init, spin, clean shutdown on SIGINT/SIGTERM, clear parameter errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Create the node with ``factory`` and spin it until shutdown; return a process exit status."""
    rclpy.init(args=list(args) if args is not None else sys.argv)
    try:
        node = factory()
    except ValueError as exc:  # parameter validation: say what is wrong and exit non-zero
        print(f"[selfpose_ros] {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # SIGINT/SIGTERM shut the context down while a callback was publishing: that is a clean stop.
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
