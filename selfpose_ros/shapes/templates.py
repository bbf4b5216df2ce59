"""Shape templates: random instances of a category's shape library, for fits that try more than the mean prior.

A fused trajectory cloud of an instance far from the category's mean (a camera with a long lens, a laptop
with a thin lid) can fit the mean prior better at a wrong yaw than at the right one; fitting a few other
instances of the category as well, and keeping the best fit, settles most of those (docs/training.md,
"Template pseudo-labels"). Templates are deterministic per (category, seed) and share the priors' canonical
frame (box centre at the origin, +Y up, box diagonal 1), so a fit of any of them is a pose in that frame.
"""

from __future__ import annotations

import numpy as np

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.shapes.instance import make_instance
from selfpose_ros.shapes.registry import category_shape, sample_instance

#: Mesh resolution of a template (a few hundred vertices: the fit samples points, not faces).
TEMPLATE_RESOLUTION = 24


def shape_template_meshes(category: str, count: int, seed: int = 0,
                          resolution: int = TEMPLATE_RESOLUTION) -> list[tuple[np.ndarray, np.ndarray]]:
    """(vertices (N, 3), faces (F, 3)) of ``count`` random instances of ``category``, canonical frame, the same for
    the same seed."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; known: {list(CATEGORIES)}")
    if count < 0:
        raise ValueError(f"template count must be >= 0, got {count}")
    rng = np.random.default_rng([seed, CATEGORIES.index(category)])
    meshes = [sample_instance(category, rng, resolution).mesh for _ in range(count)]
    return [(np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)) for m in meshes]


def shape_templates(category: str, count: int, seed: int = 0,
                    resolution: int = TEMPLATE_RESOLUTION) -> list[np.ndarray]:
    """Vertices (N, 3) of ``count`` random instances of ``category``, canonical frame, same for the same seed."""
    return [v for v, _ in shape_template_meshes(category, count, seed, resolution)]


def articulated_templates(category: str, parameter: str, values: list[float],
                          resolution: int = TEMPLATE_RESOLUTION) -> list[tuple[np.ndarray, np.ndarray]]:
    """(vertices (N, 3), faces (F, 3)) of ``category``'s mean instance with ``parameter`` set to each of ``values``
    (e.g. a laptop's lid angle), canonical frame."""
    shape = category_shape(category)
    out = []
    for value in values:
        mesh = make_instance(shape, {**shape.mean_params(), parameter: float(value)}, resolution).mesh
        out.append((np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)))
    return out
