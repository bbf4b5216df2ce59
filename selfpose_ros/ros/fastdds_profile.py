"""The Fast DDS profile for processes that publish large images (config/fastdds_large_images.xml), in an environment.

Fast DDS 2.x (Humble, Jazzy) reads FASTRTPS_DEFAULT_PROFILES_FILE; Fast DDS 3 (Kilted and the PyPI wheels) reads
FASTDDS_DEFAULT_PROFILES_FILE and warns that the old name is deprecated. A profile the user set is kept.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

LARGE_IMAGES_PROFILE = Path(__file__).resolve().parents[2] / "config" / "fastdds_large_images.xml"
PROFILE_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def profile_variable(ros_distro: str | None) -> str:
    """The variable this distribution's Fast DDS reads."""
    return "FASTRTPS_DEFAULT_PROFILES_FILE" if ros_distro in ("humble", "jazzy") else "FASTDDS_DEFAULT_PROFILES_FILE"


def use_large_images_profile(env: MutableMapping[str, str], profile: Path = LARGE_IMAGES_PROFILE) -> str | None:
    """Point ``env`` at ``profile`` unless a Fast DDS profile is set already; return the profile in effect."""
    for var in PROFILE_VARS:
        if env.get(var):
            return env[var]
    if not profile.is_file():  # an install without the source tree's config/
        return None
    env[profile_variable(env.get("ROS_DISTRO"))] = str(profile)
    return str(profile)
