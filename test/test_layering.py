"""The package's floors: every module imports only from its own floor or lower ones, and rclpy only in ros/."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "selfpose_ros"

# Floor of each top-level part of the package (README "Layout", docs/architecture.md).
FLOORS: dict[str, int] = {
    "conventions": 0,
    "pose_types": 0,
    "geometry": 1,
    "shapes": 2,
    "data": 2,
    "sim": 3,
    "model": 3,
    "eval": 3,
    "losses": 4,
    "inference": 4,
    "train": 5,
    "recording": 5,
    "ros": 6,
    "msg": 6,
    "cli": 7,
}
ROS_ONLY = ("rclpy", "launch", "launch_ros", "message_filters", "tf2_ros", "cv_bridge")


def _part(module_path: Path) -> str:
    rel = module_path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module) of every import statement, relative ones resolved against the package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "selfpose_ros":
                found += [(node.lineno, f"selfpose_ros.{alias.name}") for alias in node.names]
    return found


def layering_violations() -> list[str]:
    """Every upward import and every ROS import below ros/, as 'file:line: text' lines."""
    problems: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        if path.parent == PKG and path.name == "__init__.py":
            continue
        part = _part(path)
        assert part in FLOORS, f"{path.relative_to(PKG.parent)}: part {part!r} has no floor in test_layering.FLOORS"
        floor = FLOORS[part]
        source = path.read_text()
        lines = source.splitlines()
        for lineno, module in _imports(ast.parse(source)):
            where = f"{path.relative_to(PKG.parent)}:{lineno}: {lines[lineno - 1].strip()}"
            top = module.split(".")[0]
            if top in ROS_ONLY and floor < FLOORS["ros"]:
                problems.append(f"{where}  (ROS import below ros/)")
            if top == "selfpose_ros" and module != "selfpose_ros":
                target = module.split(".")[1]
                if target in FLOORS and FLOORS[target] > floor:
                    problems.append(f"{where}  ({part} is floor {floor}, {target} is floor {FLOORS[target]})")
    return problems


def test_no_upward_import_and_no_ros_below_ros() -> None:
    problems = layering_violations()
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_every_package_part_has_a_floor() -> None:
    parts = {p.name.removesuffix(".py") for p in PKG.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert parts - {"__init__"} <= set(FLOORS), sorted(parts - set(FLOORS) - {"__init__"})


def test_no_file_over_400_lines() -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    long = [f"{p.relative_to(PKG.parent)}: {n} lines" for p, n in sizes.items() if n > 400]
    assert not long, long


def test_checker_catches_an_upward_import(tmp_path: Path) -> None:
    tree = ast.parse("from selfpose_ros.cli.main import main\nimport rclpy\n")
    assert [m for _, m in _imports(tree)] == ["selfpose_ros.cli.main", "rclpy"]
