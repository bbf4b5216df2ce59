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
    node = None
    try:
        node = factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as exc:  # parameter validation: say what is wrong and exit non-zero
        print(f"[selfpose_ros] {exc}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
