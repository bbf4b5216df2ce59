"""ROS time stamps <-> integer nanoseconds: the one conversion every part of the package uses.

A stamp is any object with integer ``sec`` and ``nanosec`` fields (builtin_interfaces/Time from rclpy or
rosbags). Integer nanoseconds are exact; floats of seconds are not, so the package keys frames by them.
"""

from __future__ import annotations

from typing import Any

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp: Any) -> int:
    """Return a builtin_interfaces/Time (``sec``, ``nanosec``) as integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_sec_nanosec(stamp_ns: int) -> tuple[int, int]:
    """Return integer nanoseconds as ``(sec, nanosec)`` with ``0 <= nanosec < 1e9``."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return sec, nanosec


def header_stamp_ns(header: Any) -> int:
    """Return a std_msgs/Header's stamp as integer nanoseconds."""
    return stamp_to_ns(header.stamp)
