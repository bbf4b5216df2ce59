"""selfpose_ros.sim."""
