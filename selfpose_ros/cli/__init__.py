"""selfpose_ros.cli."""
