"""selfpose_ros.shapes."""
