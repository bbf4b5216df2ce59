"""Launch files: syntax everywhere; full description where launch_ros imports (a real ROS 2 install)."""

import ast
import importlib.util
import os
import signal
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
EXECUTABLES = {p.name for p in (REPO / "nodes").iterdir()}


def test_there_are_launch_files():
    names = {p.name for p in LAUNCH_FILES}
    assert {"pose.launch.py", "demo.launch.py"} <= names


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_parses_and_names_real_executables(path):
    tree = ast.parse(path.read_text(), str(path))
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Node":
            kw = {k.arg: k.value for k in node.keywords}
            if getattr(kw.get("package"), "value", None) == "selfpose_ros":
                assert kw["executable"].value in EXECUTABLES, f"{path.name}: no nodes/{kw['executable'].value}"
    for cfg in ("pose.yaml", "sim_camera.yaml", "record.yaml", "selfpose.rviz"):
        if f'"{cfg}"' in path.read_text():
            assert (REPO / "config" / cfg).is_file(), f"{path.name} uses missing config/{cfg}"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_description_builds_with_launch_ros(path, monkeypatch):
    pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI; runs on real ROS 2")
    import ament_index_python.packages as aip

    monkeypatch.setattr(aip, "get_package_share_directory", lambda name: str(REPO))
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert description.entities


RVIZ_LAUNCH_FILES = [p for p in LAUNCH_FILES if '"rviz"' in p.read_text()]


@pytest.mark.parametrize("path", RVIZ_LAUNCH_FILES, ids=lambda p: p.name)
def test_rviz_is_off_by_default(path):
    """rviz2 is not a dependency (headless robots): no launch file may start it unless asked to."""
    tree = ast.parse(path.read_text(), str(path))
    defaults = [
        {k.arg: getattr(k.value, "value", None) for k in node.keywords}.get("default_value")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument"
        and getattr(node.args[0], "value", None) == "rviz"
    ]
    assert defaults == ["false"]


def test_rviz_request_words_and_missing_rviz2_message():
    from selfpose_ros.ros.launch_rviz import require_rviz, rviz_requested

    assert [rviz_requested(w) for w in ("true", "True", "1", "false", "0", "")] == [True] * 3 + [False] * 3
    with pytest.raises(ValueError):
        rviz_requested("maybe")

    def no_rviz2(name):
        raise KeyError(name)  # ament_index_python.PackageNotFoundError is a KeyError

    with pytest.raises(RuntimeError, match="ros-\\$ROS_DISTRO-rviz2.*Nothing was started"):
        require_rviz(no_rviz2)
    require_rviz(lambda name: "/opt/ros/share/rviz2")  # installed: no error


@pytest.mark.parametrize("path", RVIZ_LAUNCH_FILES, ids=lambda p: p.name)
def test_rviz_without_rviz2_fails_before_any_process_starts(path, monkeypatch):
    """`rviz:=true` without rviz2: launch exits non-zero and has started no process (none left orphaned)."""
    pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI; runs on real ROS 2")
    import ament_index_python.packages as aip
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    def share(name):
        if name == "rviz2":
            raise aip.PackageNotFoundError(name)
        return str(REPO)

    monkeypatch.setattr(aip, "get_package_share_directory", share)
    before = _children()
    service = LaunchService()
    service.include_launch_description(LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(path)), launch_arguments={"rviz": "true"}.items()),
    ]))
    status = service.run()
    time.sleep(1.0)
    left = _children() - before
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running after the failed launch: {sorted(left)}"
    assert status != 0


def _children() -> set[int]:
    """PIDs of this process's live child processes (from /proc)."""
    pids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()) and not fields.get("State", "").startswith("Z"):
            pids.add(int(status.parent.name))
    return pids
