"""Training: bag reading, instance crops, trajectory batches (no ROS needed)."""
