"""selfpose_ros.bags."""
