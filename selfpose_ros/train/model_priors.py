"""The category priors a model is built on: the shipped prior meshes, optionally decimated.

A smaller mesh makes the correspondence softmax and the soft renderer cheaper; quadric decimation keeps
the canonical frame (box centre and extents move by well under 1% of the diagonal on the shipped priors).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import open3d as o3d

from selfpose_ros.shapes.priors import load_prior


def decimate_mesh(vertices: np.ndarray, faces: np.ndarray, target_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation to about ``target_vertices`` vertices (2 x that many faces); unused vertices dropped."""
    if target_vertices < 4:
        raise ValueError(f"target_vertices must be >= 4, got {target_vertices}")
    if len(vertices) <= target_vertices:
        return np.asarray(vertices, np.float32), np.asarray(faces, np.int64)
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)),
                                     o3d.utility.Vector3iVector(np.asarray(faces, np.int32)))
    small = mesh.simplify_quadric_decimation(int(2 * target_vertices))
    small.remove_unreferenced_vertices()
    v = np.asarray(small.vertices, np.float32)
    f = np.asarray(small.triangles, np.int64)
    if len(f) == 0:
        raise ValueError("decimation removed every face")
    return v, f


def model_priors(categories: Sequence[str], target_vertices: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{category: (vertices, faces)} from the shipped priors, decimated when ``target_vertices`` > 0."""
    out = {}
    for cat in categories:
        v, f = load_prior(cat)
        out[cat] = decimate_mesh(v, f, target_vertices) if target_vertices > 0 else (v, f)
    return out
