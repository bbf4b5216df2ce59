"""Mesh building blocks on top of trimesh: Y-up revolves, boolean unions, canonical normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import manifold3d
import numpy as np
import trimesh

#: Rotation taking trimesh's revolve / torus axis (+Z) onto the canonical up axis (+Y).
Z_TO_Y = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


def resample_polyline(points: np.ndarray, count: int) -> np.ndarray:
    """Return ``count`` points spaced evenly by arc length along a 2D polyline (ends kept)."""
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError(f"polyline needs shape (n>=2, d), got {points.shape}")
    if count < 2:
        raise ValueError(f"count must be >= 2, got {count}")
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] <= 0:
        raise ValueError("polyline has zero length")
    target = np.linspace(0.0, arc[-1], count)
    return np.stack([np.interp(target, arc, points[:, k]) for k in range(points.shape[1])], axis=1)


def keep_corners(points: np.ndarray, count: int, corners: Sequence[int]) -> np.ndarray:
    """Resample a polyline evenly by arc length while keeping the listed vertex indices exactly."""
    points = np.asarray(points, dtype=float)
    idx = sorted(set([0, len(points) - 1, *corners]))
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    pieces = []
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        n = max(2, int(round(count * (arc[b] - arc[a]) / arc[-1])) + 1)
        piece = resample_polyline(points[a : b + 1], n)
        pieces.append(piece if not pieces else piece[1:])
    return np.concatenate(pieces, axis=0)


def revolve_y(profile: np.ndarray, sections: int) -> trimesh.Trimesh:
    """Revolve a (radius, height) profile about +Y; ends on the axis give a closed solid."""
    profile = np.asarray(profile, dtype=float)
    if profile.ndim != 2 or profile.shape[1] != 2:
        raise ValueError(f"profile must be (n, 2) radius/height pairs, got {profile.shape}")
    if np.any(profile[:, 0] < 0):
        raise ValueError("profile radii must be >= 0")
    mesh = trimesh.creation.revolve(profile, sections=int(sections))
    mesh.apply_transform(Z_TO_Y)
    mesh.merge_vertices()
    return orient_outward(mesh)


def orient_outward(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Flip the winding of a closed mesh whose signed volume is negative (normals pointing inward)."""
    if mesh.is_watertight and mesh.volume < 0:
        mesh.invert()
    return mesh


def difference(a: trimesh.Trimesh, b: trimesh.Trimesh) -> trimesh.Trimesh:
    """Boolean difference ``a - b`` with the manifold3d engine; raise if the result leaks."""
    return _checked(trimesh.boolean.difference([a, b], engine="manifold"), "difference")


def _checked(mesh: trimesh.Trimesh, what: str) -> trimesh.Trimesh:
    if not mesh.is_watertight or len(mesh.faces) == 0:
        raise ValueError(f"boolean {what} produced a mesh that is not watertight")
    return orient_outward(mesh)


def box(extents: Sequence[float], center: Sequence[float], max_edge: float | None = None) -> trimesh.Trimesh:
    """Axis-aligned box with the given extents and centre, optionally subdivided to ``max_edge``."""
    mesh = trimesh.creation.box(extents=np.asarray(extents, dtype=float))
    if max_edge is not None:
        v, f = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge=max_edge)
        mesh = trimesh.Trimesh(v, f, process=True)
    mesh.apply_translation(np.asarray(center, dtype=float))
    return mesh


def cylinder_z(radius: float, length: float, center: Sequence[float], sections: int) -> trimesh.Trimesh:
    """Closed cylinder along +Z with the given centre."""
    mesh = trimesh.creation.cylinder(radius=radius, height=length, sections=int(sections))
    mesh.apply_translation(np.asarray(center, dtype=float))
    return mesh


def cylinder_x(radius: float, length: float, center: Sequence[float], sections: int) -> trimesh.Trimesh:
    """Closed cylinder along +X with the given centre."""
    mesh = trimesh.creation.cylinder(radius=radius, height=length, sections=int(sections))
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0.0, 1.0, 0.0]))
    mesh.apply_translation(np.asarray(center, dtype=float))
    return mesh


def cylinder_y(radius: float, length: float, center: Sequence[float], sections: int) -> trimesh.Trimesh:
    """Closed cylinder along +Y with the given centre."""
    mesh = trimesh.creation.cylinder(radius=radius, height=length, sections=int(sections))
    mesh.apply_transform(Z_TO_Y)
    mesh.apply_translation(np.asarray(center, dtype=float))
    return mesh


def normalize_canonical(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, float]:
    """Centre the bounding box at the origin and scale its diagonal to 1; return (mesh, factor)."""
    lo, hi = mesh.bounds
    diag = float(np.linalg.norm(hi - lo))
    if diag <= 0:
        raise ValueError("mesh has an empty bounding box")
    out = mesh.copy()
    out.apply_translation(-(lo + hi) / 2.0)
    out.apply_scale(1.0 / diag)
    return out, 1.0 / diag


def union_labelled(parts: Sequence[trimesh.Trimesh]) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Boolean union (manifold3d) that also returns, for every face, the index of the part it came from."""
    manifolds, ids = [], []
    for i, part in enumerate(parts):
        if not part.is_watertight:
            raise ValueError(f"part {i} is not watertight; boolean union needs closed parts")
        mesh = manifold3d.Mesh64(vert_properties=np.asarray(part.vertices, dtype=np.float64),
                                 tri_verts=np.asarray(part.faces, dtype=np.uint64))
        man = manifold3d.Manifold(mesh)
        if man.status() != manifold3d.Error.NoError:
            raise ValueError(f"part {i} is not a valid manifold: {man.status()}")
        man = man.as_original()
        manifolds.append(man)
        ids.append(man.original_id())
    out = manifold3d.Manifold.batch_boolean(manifolds, manifold3d.OpType.Add).to_mesh64()
    faces = np.asarray(out.tri_verts, dtype=np.int64)
    labels = np.full(len(faces), -1, dtype=np.int32)
    run = np.asarray(out.run_index, dtype=np.int64) // 3
    for r, original in enumerate(np.asarray(out.run_original_id)):
        labels[run[r] : run[r + 1]] = ids.index(int(original))
    mesh = trimesh.Trimesh(np.asarray(out.vert_properties)[:, :3], faces, process=False)
    if (labels < 0).any():
        raise ValueError("boolean union lost track of where some faces came from")
    return _checked(mesh, "union"), labels
