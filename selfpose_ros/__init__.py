"""selfpose_ros: self-supervised category-level 6D pose and size estimation for ROS 2."""

# The colcon build generates the `selfpose_ros.msg` sub-package into its install space. Extending the
# package path lets that sub-package be found even when this source tree comes first on sys.path.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
