"""selfpose_ros.ros."""
