"""selfpose_ros.geometry."""
