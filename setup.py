"""pip install . -> the pure-Python selfpose_ros library and the `selfpose` command, no ROS needed.

On a ROS 2 machine, colcon builds this package with ament_cmake (CMakeLists.txt) instead; this file is
only for pip. The message definitions in msg/ travel as package data (selfpose_ros.msg_defs), so bag
I/O works without a colcon build.
"""

from setuptools import find_packages, setup

setup(
    name="selfpose_ros",
    version="0.1.0",
    description="Self-supervised category-level 6D object pose and size for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["selfpose_ros", "selfpose_ros.*"])
    + ["selfpose_ros.msg_defs", "selfpose_ros.vision_msgs_defs"],
    package_dir={
        "selfpose_ros.msg_defs": "msg",
        "selfpose_ros.vision_msgs_defs": "tools/interfaces/vision_msgs/msg",
    },
    package_data={"selfpose_ros.msg_defs": ["*.msg"], "selfpose_ros.vision_msgs_defs": ["*.msg"]},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "opencv-python-headless>=4.8",
        "pyyaml>=6",
        "rosbags>=0.10",
        "trimesh>=4",
        "manifold3d>=3",
        "open3d>=0.18",
        "torch>=2.1",
        "tqdm>=4",
        "matplotlib>=3.7",
    ],
    entry_points={"console_scripts": ["selfpose = selfpose_ros.cli.main:main"]},
)
