"""Canonical prior meshes of the categories: where they live and how to load them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from selfpose_ros.conventions import CATEGORIES

#: File name pattern of a prior inside a priors directory.
PRIOR_FILE = "{category}.ply"


def prior_dirs() -> list[Path]:
    """Directories searched for priors: the source tree's models/priors, then each ament prefix's share dir."""
    dirs = [Path(__file__).resolve().parents[2] / "models" / "priors"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / "selfpose_ros" / "models" / "priors")
    return dirs


def prior_path(category: str) -> Path:
    """Return the first existing prior file of ``category``; raise FileNotFoundError naming the places tried."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; known: {list(CATEGORIES)}")
    tried = [d / PRIOR_FILE.format(category=category) for d in prior_dirs()]
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no prior mesh for {category!r}; tried {[str(p) for p in tried]}. "
        "Regenerate with `python -m selfpose_ros.shapes.make_priors`."
    )


def load_prior(category: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the prior of ``category`` as (vertices (V, 3) float32, faces (F, 3) int64) in the canonical frame."""
    mesh = trimesh.load(prior_path(category), process=False, force="mesh")
    return np.asarray(mesh.vertices, dtype=np.float32), np.asarray(mesh.faces, dtype=np.int64)
