"""package.xml parses with catkin_pkg and declares every runtime import of the code; ruff is clean."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Python top-level module -> the package.xml dependency (rosdep key or ROS package) that provides it.
PROVIDERS = {
    "numpy": "python3-numpy",
    "scipy": "python3-scipy",
    "cv2": "python3-opencv",
    "yaml": "python3-yaml",
    "torch": "python3-torch",
    "open3d": "python3-open3d-pip",
    "trimesh": "python3-trimesh-pip",
    "manifold3d": "python3-manifold3d-pip",
    "rosbags": "python3-rosbags-pip",
    "tqdm": "python3-tqdm",
    "matplotlib": "python3-matplotlib",
    "rclpy": "rclpy",
    "rcl_interfaces": "rcl_interfaces",
    "std_msgs": "std_msgs",
    "builtin_interfaces": "builtin_interfaces",
    "sensor_msgs": "sensor_msgs",
    "sensor_msgs_py": "sensor_msgs_py",
    "geometry_msgs": "geometry_msgs",
    "visualization_msgs": "visualization_msgs",
    "vision_msgs": "vision_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "std_srvs": "std_srvs",
    "tf2_msgs": "tf2_msgs",
    "tf2_ros": "tf2_ros",
    "message_filters": "message_filters",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "ament_index_python": "ament_index_python",
}


def _runtime_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "selfpose_ros").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "selfpose_ros" and top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def _package():
    from catkin_pkg.package import parse_package

    return parse_package(str(REPO / "package.xml"))


def test_package_xml_is_valid_format_3():
    pkg = _package()
    pkg.validate()
    assert pkg.package_format == 3
    assert pkg.name == "selfpose_ros"
    assert pkg.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in pkg.member_of_groups]


def test_every_runtime_import_is_declared():
    pkg = _package()
    declared = {d.name for d in pkg.exec_depends + pkg.build_export_depends + pkg.build_depends}
    missing = []
    for module, files in sorted(_runtime_imports().items()):
        provider = PROVIDERS.get(module)
        if provider is None:
            missing.append(f"{module} (no known provider; imported by {sorted(files)})")
        elif provider not in declared:
            missing.append(f"{provider} for `import {module}` in {sorted(files)}")
    assert not missing, "package.xml lacks: " + "; ".join(missing)


def test_setup_py_entry_point_and_message_data():
    text = (REPO / "setup.py").read_text()
    assert '"selfpose = selfpose_ros.cli.main:main"' in text
    assert '"selfpose_ros.msg_defs": "msg"' in text


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    proc = subprocess.run([str(ruff), "check", "--no-cache", str(REPO)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
