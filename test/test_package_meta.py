"""package.xml parses with catkin_pkg, declares every runtime import of the code, and every key resolves with
rosdep on humble/jammy, jazzy/noble and kilted/noble; packages without a rosdep key are README pip lines."""

import ast
import importlib.util
import os
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
    "manifold3d": "pip:manifold3d",  # no rosdep key exists: a pip line in the README
    "rosbags": "python3-rosbags-pip",
    "tqdm": "python3-tqdm",
    "matplotlib": "python3-matplotlib",
    "rclpy": "rclpy",
    "rcl_interfaces": "rcl_interfaces",
    "std_msgs": "std_msgs",
    "builtin_interfaces": "builtin_interfaces",
    "sensor_msgs": "sensor_msgs",
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
        elif provider.startswith("pip:"):
            if provider[4:] not in _readme_pip_packages():
                missing.append(f"README pip line for `import {module}` (no rosdep key) in {sorted(files)}")
        elif provider not in declared:
            missing.append(f"{provider} for `import {module}` in {sorted(files)}")
    assert not missing, "package.xml lacks: " + "; ".join(missing)


def _readme_pip_packages() -> set[str]:
    """Package names on the README's `pip install` lines (version pins stripped)."""
    names = set()
    for line in (REPO / "README.md").read_text().splitlines():
        if line.strip().startswith("pip install") and "-r " not in line:
            for word in line.split("#")[0].split()[2:]:
                if not word.startswith("-"):
                    names.add(word.split("==")[0].split(">=")[0])
    return names


def _rosdep_tool():
    spec = importlib.util.spec_from_file_location("check_rosdep_keys", REPO / "tools" / "check_rosdep_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_package_xml_key_resolves_on_humble_jazzy_and_kilted():
    """Against the resolution recorded from ros/rosdistro (tools/check_rosdep_keys.py --write); live against a
    rosdistro checkout when SELFPOSE_ROSDISTRO names one."""
    import yaml

    tool = _rosdep_tool()
    keys = tool.package_keys(REPO / "package.xml")
    if os.environ.get("SELFPOSE_ROSDISTRO"):
        table = tool.resolve_all(Path(os.environ["SELFPOSE_ROSDISTRO"]), keys)
    else:
        table = yaml.safe_load((REPO / "test" / "data" / "rosdep_keys.yaml").read_text())["resolved"]
    assert set(table) == {"humble/jammy", "jazzy/noble", "kilted/noble"}
    for target, resolved in table.items():
        unrecorded = sorted(set(keys) - set(resolved))
        assert not unrecorded, f"{target}: not checked against rosdistro (run tools/check_rosdep_keys.py): {unrecorded}"
        unresolved = sorted(k for k in keys if resolved[k] is None)
        assert not unresolved, f"{target}: no rosdep definition for {unresolved}; make them README pip lines"


def test_readme_names_pip_lines_and_the_noble_pip_caveat():
    text = (REPO / "README.md").read_text()
    assert {"manifold3d", "ruff"} <= _readme_pip_packages()
    assert "PIP_BREAK_SYSTEM_PACKAGES" in text


def test_rosdep_rule_resolution():
    tool = _rosdep_tool()
    assert tool.resolve_rule(["python3-numpy"], "noble") == "apt: python3-numpy"
    assert tool.resolve_rule({"pip": {"packages": ["open3d"]}}, "jammy") == "pip: open3d"
    assert tool.resolve_rule({"*": ["python3-open3d"], "noble": None}, "noble") is None
    assert tool.resolve_rule({"*": ["python3-open3d"], "noble": None}, "jammy") == "apt: python3-open3d"
    assert tool.resolve_rule(None, "jammy") is None


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
