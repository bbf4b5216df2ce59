"""RViz in the launch files: started only on request, and a launch that asks for it without rviz2 installed stops
with a clear message before any node starts (no orphaned processes). No launch or rclpy import here."""

from __future__ import annotations

from collections.abc import Callable

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")
MISSING_RVIZ = (
    "rviz:=true, but the package 'rviz2' is not installed: install it (sudo apt install "
    "ros-$ROS_DISTRO-rviz2) or launch with rviz:=false. Nothing was started."
)


def rviz_requested(value: str) -> bool:
    """Return the truth of a launch argument such as ``rviz:=true``; raise ValueError on other words."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"rviz:={value!r} is neither true nor false")


def require_rviz(find_share: Callable[[str], str]) -> None:
    """Raise RuntimeError naming the fix when ``find_share('rviz2')`` (get_package_share_directory) fails."""
    try:
        find_share("rviz2")
    except (KeyError, LookupError, ValueError, OSError):  # ament_index_python's PackageNotFoundError is a KeyError
        raise RuntimeError(MISSING_RVIZ) from None
