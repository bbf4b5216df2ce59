"""Warnings throttled by kind: 10,000 warnings with distinct stamps in their text give at most one line per kind
per period, and the throttle's memory stays constant; through a real rclpy logger, the node's log shows it."""

import subprocess
import sys

import pytest
from ros_testing import REPO

from selfpose_ros.ros.throttled_warnings import ThrottledWarnings

KINDS = ("tf_unavailable", "frame_rejected", "no_pose")


class Clock:
    """Simulated monotonic time, so the test covers many periods without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ten_thousand_distinct_warnings_give_one_line_per_kind_per_period():
    clock, lines = Clock(), []
    period = 5.0
    throttle = ThrottledWarnings(lines.append, period, clock=clock)
    logged_at: dict[str, list[float]] = {k: [] for k in KINDS}
    sizes = set()
    for i in range(10_000):
        clock.now = i * 0.01  # 100 s in all: 20 periods
        kind = KINDS[i % len(KINDS)]
        stamp = 1_795_903_322_673_941_175 + i * 33_000_000  # a different stamp in every text
        if throttle.warn(kind, f"no camera pose at {stamp} ns: extrapolation, asked for {stamp + 7} ns"):
            logged_at[kind].append(clock.now)
        sizes.add(len(throttle))
    assert throttle.count == 10_000 and throttle.logged == len(lines)
    for kind, times in logged_at.items():
        assert 1 <= len(times) <= 100.0 / period + 1, (kind, times)
        assert all(b - a >= period for a, b in zip(times, times[1:])), (kind, times)
    assert len(lines) <= len(KINDS) * (100.0 / period + 1)
    assert sizes == {1, 2, 3}  # one entry per kind, however many texts
    assert "more 'no_pose' warning(s) in the last 5 s" in lines[-1]  # repeats are counted, not lost


def test_memory_is_bounded_even_when_kinds_are_misused():
    lines = []
    throttle = ThrottledWarnings(lines.append, 5.0, max_kinds=16, clock=Clock())
    for i in range(10_000):
        throttle.warn(f"kind {i}", f"text {i}")  # a caller that puts a stamp into the kind
    assert len(throttle) == 16 and len(lines) == 10_000


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError):
        ThrottledWarnings(print, -1.0)
    with pytest.raises(ValueError):
        ThrottledWarnings(print, 1.0, max_kinds=0)


SCRIPT = """
import rclpy
from selfpose_ros.ros.throttled_warnings import ThrottledWarnings
rclpy.init()
node = rclpy.create_node("throttle_probe")
w = ThrottledWarnings(node, 3600.0)
for i in range(10_000):
    w.warn("tf_unavailable" if i % 2 else "frame_rejected", f"warning {i} at stamp {1_700_000_000_000_000_000 + i}")
print("kinds", len(w), "count", w.count, "logged", w.logged, flush=True)
node.destroy_node()
rclpy.shutdown()
"""


def test_through_a_real_node_logger():
    pytest.importorskip("rclpy")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "[WARN]" in line]
    assert len(warnings) == 2 and "warning 0 at stamp" in warnings[0] and "warning 1 at stamp" in warnings[1]
    assert "kinds 2 count 10000 logged 2" in proc.stdout
