"""The canonical box (centre and extents) of a predicted mesh, respecting the category's symmetry."""

from __future__ import annotations

import numpy as np


def mesh_box(vertices: np.ndarray, symmetry: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Centre (3,) and extents (3,) of the box of ``vertices`` (N, 3) in the canonical frame.

    For ``continuous_y`` (solids of revolution about +Y) the cross-section must be square, as it is for
    every yaw of the true object: x and z extents both become the mean of the two. An axis-aligned min/max
    of a slightly non-round learned mesh would otherwise give a rectangular cross-section whose shape
    depends on the mesh's arbitrary yaw.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"mesh_box: vertices must be (N>0, 3), got {v.shape}")
    lo, hi = v.min(0), v.max(0)
    centre, extents = 0.5 * (lo + hi), hi - lo
    if symmetry == "continuous_y":
        width = 0.5 * (extents[0] + extents[2])
        extents = np.array([width, extents[1], width])
    return centre, extents
