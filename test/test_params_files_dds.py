"""Parameter files apply under any namespace: each node starts in a namespace with its config/*.yaml (one value
changed to a non-default) and the value is read back through the node's parameter service (GetParameters).

A file keyed `pose_estimator:` instead of `/**/pose_estimator:` matches only a node at the root namespace, so
the node would silently keep its default (issue 10).
"""

from pathlib import Path

import pytest
import yaml
from ros_testing import REPO, NodeProcess, call_service, require_rclpy, spin_until

rclpy = require_rclpy()

from rcl_interfaces.msg import ParameterType  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402

NAMESPACE = "/params_test/camera"

#: node -> (module, config file, parameter changed in the file, its non-default value, extra file values)
CASES = {
    "pose_estimator": (
        "selfpose_ros.ros.nodes.pose_estimator",
        "pose.yaml",
        "min_mask_pixels",
        777,
        {"publish_debug_image": False},
    ),
    "sim_camera": (
        "selfpose_ros.ros.nodes.sim_camera",
        "sim_camera.yaml",
        "frames",
        77,
        {"width": 64, "height": 48, "rate_hz": 2.0},
    ),
    "trajectory_recorder": (
        "selfpose_ros.ros.nodes.trajectory_recorder",
        "record.yaml",
        "min_translation",
        0.077,
        {"autostart": False},
    ),
    "pose_publisher": ("selfpose_ros.ros.nodes.pose_publisher", "pose_publisher.yaml", "rate_hz", 7.5, {}),
}


def _file_with(config: str, changes: dict, path: Path) -> Path:
    """Copy config/<config> to ``path`` with ``changes`` made under its own (unchanged) node key."""
    data = yaml.safe_load((REPO / "config" / config).read_text())
    (key,) = data
    assert key.startswith("/**/"), f"config/{config} is keyed {key!r}: it would not apply under a namespace"
    data[key]["ros__parameters"].update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


def _value(v):
    return {
        ParameterType.PARAMETER_INTEGER: v.integer_value,
        ParameterType.PARAMETER_DOUBLE: v.double_value,
        ParameterType.PARAMETER_BOOL: v.bool_value,
        ParameterType.PARAMETER_STRING: v.string_value,
    }.get(v.type)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("params")
    procs = {}
    try:
        for name, (module, config, param, value, extra) in CASES.items():
            changes = {param: value, **extra}
            if name == "trajectory_recorder":
                changes["output_dir"] = str(tmp / "bags")
            params_file = _file_with(config, changes, tmp / f"{name}.yaml")
            procs[name] = NodeProcess(
                module,
                "--ros-args",
                "-r",
                f"__ns:={NAMESPACE}",
                "--params-file",
                str(params_file),
                log_dir=tmp,
                name=name,
            )
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.mark.parametrize("name", list(CASES))
def test_params_file_value_is_applied_under_a_namespace(nodes, name):
    _, _, param, value, extra = CASES[name]
    rclpy.init()
    node = rclpy.create_node(f"params_reader_{name}")
    try:
        client = node.create_client(GetParameters, f"{NAMESPACE}/{name}/get_parameters")
        assert spin_until(node, client.service_is_ready, 90.0, nodes[name]), nodes[name].output()
        answer = call_service(node, client, lambda: GetParameters.Request(names=[param, *extra]), nodes[name])
        got = [_value(v) for v in answer.values]
        assert got == [value, *extra.values()], f"{name}: {param} and {list(extra)} read back as {got}"
    finally:
        node.destroy_node()
        rclpy.shutdown()
