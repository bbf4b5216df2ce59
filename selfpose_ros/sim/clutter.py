"""Clutter: everyday things of no category (books, boxes, fruit, tape rolls, stones, wedges) on the table.

They are environment parts (label 0, background in the segmentation) placed so that they do not touch the
objects' footprints, and never taller than the tallest object (the camera stays above them).
"""

from __future__ import annotations

import numpy as np
import trimesh

#: Clutter shapes: none of them is a solid of revolution about the vertical axis like a can, bottle or bowl.
CLUTTER_KINDS = ("book", "box", "fruit", "tape", "stone", "wedge")


def clutter_mesh(kind: str, rng: np.random.Generator, max_height: float) -> trimesh.Trimesh:
    """A clutter mesh standing on z = 0, centred on the z axis, at most ``max_height`` tall (metres)."""
    if kind == "book":
        w, d, h = rng.uniform(0.12, 0.25), rng.uniform(0.09, 0.18), rng.uniform(0.01, 0.05)
        mesh = trimesh.creation.box(extents=(w, d, h))
    elif kind == "box":
        w, d, h = rng.uniform(0.04, 0.15), rng.uniform(0.03, 0.12), rng.uniform(0.03, 0.2)
        mesh = trimesh.creation.box(extents=(w, d, h))
    elif kind == "fruit":
        mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
        mesh.apply_scale(rng.uniform(0.025, 0.05, size=3))
    elif kind == "tape":
        r = rng.uniform(0.03, 0.06)
        mesh = trimesh.creation.torus(
            major_radius=r, minor_radius=rng.uniform(0.25, 0.45) * r, major_sections=24, minor_sections=8
        )
        mesh.apply_scale((1.0, 1.0, rng.uniform(0.5, 1.0)))
    elif kind == "stone":
        pts = rng.standard_normal((24, 3)) * rng.uniform(0.015, 0.05, size=3)
        mesh = trimesh.convex.convex_hull(pts)
    elif kind == "wedge":
        w, d, h = rng.uniform(0.05, 0.15), rng.uniform(0.04, 0.1), rng.uniform(0.03, 0.1)
        verts = np.array([[0, 0, 0], [w, 0, 0], [0, d, 0], [w, d, 0], [0, 0, h], [0, d, h]], float)
        verts -= [w / 2, d / 2, 0]
        mesh = trimesh.convex.convex_hull(verts)
    else:
        raise ValueError(f"unknown clutter kind {kind!r}; known: {CLUTTER_KINDS}")
    height = float(mesh.extents[2])
    if height > max_height:
        mesh.apply_scale((1.0, 1.0, max_height / height))
    yaw = rng.uniform(0, 2 * np.pi)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(yaw, (0, 0, 1)))
    lo, hi = mesh.bounds
    mesh.apply_translation((-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]))
    return mesh


def place_clutter(
    meshes: list[trimesh.Trimesh],
    busy: list[tuple[float, float, float]],
    table_xy: np.ndarray,
    near: tuple[float, float, float],
    top_z: float,
    rng: np.random.Generator,
    gap: float = 0.01,
) -> list[trimesh.Trimesh]:
    """Place meshes on the table top (``table_xy`` = [[xmin, ymin], [xmax, ymax]]) clear of the ``busy``
    discs (x, y, radius) and of each other, preferably within ``near`` (x, y, radius); drop those that do not fit."""
    placed, discs = [], list(busy)
    lo, hi = np.asarray(table_xy[0], float), np.asarray(table_xy[1], float)
    for mesh in meshes:
        r = 0.5 * float(np.hypot(*mesh.extents[:2]))
        for attempt in range(200):
            if attempt < 120:
                rad, a = near[2] * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
                xy = np.array([near[0] + rad * np.cos(a), near[1] + rad * np.sin(a)])
            else:
                xy = rng.uniform(lo + r, hi - r) if np.all(hi - lo > 2 * r) else lo
            if np.any(xy - r < lo) or np.any(xy + r > hi):
                continue
            if all(np.hypot(xy[0] - x, xy[1] - y) >= r + rr + gap for x, y, rr in discs):
                mesh = mesh.copy()
                mesh.apply_translation((xy[0], xy[1], top_z))
                placed.append(mesh)
                discs.append((float(xy[0]), float(xy[1]), r))
                break
    return placed
