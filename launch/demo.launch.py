"""ros2 launch selfpose_ros demo.launch.py [model:=<checkpoint>|prior_fit] [device:=auto] [rviz:=false]

Simulated RGB-D camera (sim_camera) -> pose_estimator (-> RViz with rviz:=true), all in the `camera` namespace.
RViz is off by default (rviz2 is not a dependency); rviz:=true without rviz2 stops before any node starts.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from selfpose_ros.ros.launch_rviz import require_rviz, rviz_requested


def generate_launch_description() -> LaunchDescription:
    """Start the simulated camera, the estimator and (optionally) RViz."""
    share = Path(get_package_share_directory("selfpose_ros"))
    args = [
        DeclareLaunchArgument("model", default_value="prior_fit",
                              description="'prior_fit' (default: the depth-only baseline, the most accurate back-end "
                                          "as measured) or a checkpoint, e.g. "
                                          "$(ros2 pkg prefix selfpose_ros)/share/selfpose_ros/models/cse_6cat_rgbd.pt"),
        DeclareLaunchArgument("gravity_frame", default_value="map",
                              description="TF frame whose +Z is up (map, odom, base_link); empty: unknown"),
        DeclareLaunchArgument("ego_bias_frame", default_value="map",
                              description="ego-motion debiasing in this static frame; empty: off"),
        DeclareLaunchArgument("device", default_value="auto", description="cpu | cuda:0 | auto"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz (needs the rviz2 package)"),
    ]
    sim = Node(
        package="selfpose_ros",
        executable="sim_camera",
        namespace="camera",
        parameters=[str(share / "config" / "sim_camera.yaml")],  # all six categories, as the shipped model
        output="screen",
    )
    estimator = Node(
        package="selfpose_ros",
        executable="pose_estimator",
        namespace="camera",
        parameters=[str(share / "config" / "pose.yaml"),
                    {"model": LaunchConfiguration("model"), "device": LaunchConfiguration("device"),
                     "gravity_frame": LaunchConfiguration("gravity_frame"),
                     "ego_bias_frame": LaunchConfiguration("ego_bias_frame")}],
        output="screen",
    )

    def nodes(context):
        """Check the RViz request first, so that a launch that fails has started nothing."""
        if not rviz_requested(LaunchConfiguration("rviz").perform(context)):
            return [sim, estimator]
        require_rviz(get_package_share_directory)
        rviz = Node(package="rviz2", executable="rviz2", arguments=["-d", str(share / "config" / "selfpose.rviz")])
        return [sim, estimator, rviz]

    return LaunchDescription([*args, OpaqueFunction(function=nodes)])
