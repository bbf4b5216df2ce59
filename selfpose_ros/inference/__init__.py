"""Per-frame inference: input checks, instance extraction, estimator back-ends (no ROS)."""
