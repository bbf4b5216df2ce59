"""ros2 launch selfpose_ros pose.launch.py [camera:=camera] [model:=<checkpoint>|prior_fit] [device:=auto]
[gravity_frame:=base_link] [fusion_frame:=map] [ego_bias_frame:=map] [rviz:=false]"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from selfpose_ros.ros.launch_rviz import require_rviz, rviz_requested


def generate_launch_description() -> LaunchDescription:
    """Start pose_estimator in the camera namespace, optionally with RViz."""
    share = Path(get_package_share_directory("selfpose_ros"))
    args = [
        DeclareLaunchArgument("camera", default_value="camera", description="camera namespace"),
        DeclareLaunchArgument("model", default_value="prior_fit",
                              description="'prior_fit' (default: the depth-only baseline, the most accurate back-end "
                                          "as measured) or a checkpoint, e.g. "
                                          "$(ros2 pkg prefix selfpose_ros)/share/selfpose_ros/models/cse_6cat_rgbd.pt"),
        DeclareLaunchArgument("gravity_frame", default_value="",
                              description="TF frame whose +Z is up (map, odom, base_link); empty: unknown"),
        DeclareLaunchArgument("fusion_frame", default_value="",
                              description="multi-view fusion in this frame, static relative to the objects (map, "
                                          "odom); empty: off"),
        DeclareLaunchArgument("ego_bias_frame", default_value="",
                              description="ego-motion debiasing in this frame, static relative to the objects "
                                          "(map, odom): along-ray offsets fitted to the camera's motion; empty: off"),
        DeclareLaunchArgument("device", default_value="auto", description="cpu | cuda:0 | auto"),
        DeclareLaunchArgument("params_file", default_value=str(share / "config" / "pose.yaml")),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz (needs the rviz2 package)"),
    ]
    estimator = Node(
        package="selfpose_ros",
        executable="pose_estimator",
        namespace=LaunchConfiguration("camera"),
        parameters=[LaunchConfiguration("params_file"),
                    {"model": LaunchConfiguration("model"), "device": LaunchConfiguration("device"),
                     "gravity_frame": LaunchConfiguration("gravity_frame"),
                     "fusion_frame": LaunchConfiguration("fusion_frame"),
                     "ego_bias_frame": LaunchConfiguration("ego_bias_frame")}],
        output="screen",
    )

    def nodes(context):
        """Check the RViz request first, so that a launch that fails has started nothing."""
        if not rviz_requested(LaunchConfiguration("rviz").perform(context)):
            return [estimator]
        require_rviz(get_package_share_directory)
        rviz = Node(package="rviz2", executable="rviz2", arguments=["-d", str(share / "config" / "selfpose.rviz")])
        return [estimator, rviz]

    return LaunchDescription([*args, OpaqueFunction(function=nodes)])
