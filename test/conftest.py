"""Test-wide setup: DDS stays on loopback, and each pytest run gets its own ROS domain."""

import os
import random
import sys
from pathlib import Path

import pytest

# test/helpers (ros_testing) on the import path; pytest.ini's `pythonpath` option needs pytest >= 7 (not jammy's 6.2).
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

# Set before anything imports rclpy; child processes inherit these.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
if os.environ.get("ROS_DISTRO") == "humble":
    os.environ["ROS_LOCALHOST_ONLY"] = "1"
if "SELFPOSE_TEST_DOMAIN_ID" in os.environ:
    os.environ["ROS_DOMAIN_ID"] = os.environ["SELFPOSE_TEST_DOMAIN_ID"]
else:  # a per-run domain, so parallel runs on one machine never cross-talk
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")

from ros_testing import stop_leftover_processes  # noqa: E402  (after sys.path gets test/helpers)


@pytest.fixture(autouse=True, scope="module")
def _no_node_outlives_its_module():
    """Kill node processes a failed test left running, so they cannot publish into the next module's tests."""
    yield
    left = stop_leftover_processes()
    if left:
        print(f"\nconftest: killed node processes left running: {', '.join(left)}")
