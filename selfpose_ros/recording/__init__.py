"""Recording robot viewpoint trajectories (pure Python, no rclpy): keyframe gating, crash-safe split bags, repair.

The ROS side is ``selfpose_ros.ros.nodes.trajectory_recorder``; docs/recorder.md describes the bag layout.
"""
