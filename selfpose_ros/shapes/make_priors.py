"""Regenerate models/priors/<category>.ply deterministically: `python -m selfpose_ros.shapes.make_priors`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import trimesh

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.shapes.instance import ShapeInstance
from selfpose_ros.shapes.priors import prior_dirs
from selfpose_ros.shapes.registry import mean_instance

#: Wanted vertex count of a prior and the accepted range.
TARGET_VERTICES = 700
VERTEX_RANGE = (400, 1000)


def make_prior(category: str) -> ShapeInstance:
    """Return the mean instance of ``category`` at the resolution whose vertex count is nearest the target."""
    best: ShapeInstance | None = None
    for resolution in range(8, 49, 2):
        inst = mean_instance(category, resolution)
        n = len(inst.mesh.vertices)
        if VERTEX_RANGE[0] <= n <= VERTEX_RANGE[1] and (
            best is None or abs(n - TARGET_VERTICES) < abs(len(best.mesh.vertices) - TARGET_VERTICES)
        ):
            best = inst
        if n > VERTEX_RANGE[1]:
            break
    if best is None:
        raise ValueError(f"no resolution gives {category} a prior with {VERTEX_RANGE} vertices")
    return best


def write_prior(inst: ShapeInstance, out_dir: Path) -> Path:
    """Write the instance mesh as binary PLY named after its category; return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{inst.category}.ply"
    path.write_bytes(trimesh.exchange.ply.export_ply(inst.mesh, encoding="binary", include_attributes=False))
    return path


def main(argv: list[str] | None = None) -> int:
    """Write every category's prior into the output directory (default: the source tree's models/priors)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=prior_dirs()[0], help="output directory")
    args = parser.parse_args(argv)
    for category in CATEGORIES:
        inst = make_prior(category)
        path = write_prior(inst, args.out)
        print(f"{category}: {len(inst.mesh.vertices)} vertices, {len(inst.mesh.faces)} faces -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
