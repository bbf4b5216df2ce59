"""selfpose_ros.eval."""
