"""ros2 launch selfpose_ros record.launch.py [camera:=camera] [output_dir:=~/selfpose_bags] [autostart:=true]"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    """Start trajectory_recorder in the camera namespace with config/record.yaml."""
    share = Path(get_package_share_directory("selfpose_ros"))
    args = [
        DeclareLaunchArgument("camera", default_value="camera", description="camera namespace"),
        DeclareLaunchArgument("output_dir", default_value="~/selfpose_bags", description="where bags go"),
        DeclareLaunchArgument("autostart", default_value="true", description="record from the start"),
        DeclareLaunchArgument("params_file", default_value=str(share / "config" / "record.yaml")),
    ]
    recorder = Node(
        package="selfpose_ros",
        executable="trajectory_recorder",
        namespace=LaunchConfiguration("camera"),
        parameters=[LaunchConfiguration("params_file"),
                    {"output_dir": LaunchConfiguration("output_dir"),
                     "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool)}],
        output="screen",
        # SIGINT first (closes the bag); give it time before launch escalates to SIGTERM / SIGKILL
        sigterm_timeout="15",
        sigkill_timeout="15",
    )
    return LaunchDescription([*args, recorder])
