"""Ray casting of camera pixels with Open3D's Embree-backed RaycastingScene: no scene logic, light imports.

The simulator's ``SceneRaycaster`` and the ray-cast worker process (``sim/cast_worker.py``) both cast with
``cast_pixels``, so their hits are bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from selfpose_ros.sim.row_products import matmul_rows

#: Geometry id Open3D reports for a ray that hits nothing.
MISS = o3d.t.geometry.RaycastingScene.INVALID_ID


@dataclass
class RayHits:
    """Per-pixel result of one ray cast, flattened row-major (N = H*W)."""

    depth: np.ndarray  # (N,) float32 optical-frame z in metres, inf where nothing was hit
    geometry: np.ndarray  # (N,) int64 geometry index, -1 where nothing was hit
    primitive: np.ndarray  # (N,) int64 triangle index within the geometry
    uv: np.ndarray  # (N, 2) float32 barycentric (u, v): point = (1-u-v) v0 + u v1 + v v2
    face_normal: np.ndarray  # (N, 3) float32 geometric normal in map
    directions: np.ndarray  # (N, 3) float32 world ray directions with optical z = 1
    origin: np.ndarray  # (3,) camera centre in map


def tensor_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[o3d.core.Tensor, o3d.core.Tensor]:
    """Open3D tensors (float32 vertices, uint32 faces) of one mesh."""
    return (o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.uint32)))


def raycasting_scene(meshes: list[tuple[np.ndarray, np.ndarray]]) -> o3d.t.geometry.RaycastingScene:
    """An Open3D ray-casting scene of ``meshes`` (vertices, faces); geometry ids follow the list order."""
    scene = o3d.t.geometry.RaycastingScene()
    for k, mesh in enumerate(meshes):
        gid = scene.add_triangles(*tensor_mesh(*mesh))
        if gid != k:
            raise RuntimeError(f"Open3D returned geometry id {gid}, expected {k}")
    return scene


def cast_pixels(scene: o3d.t.geometry.RaycastingScene, camera_rays: np.ndarray, T_map_optical: np.ndarray,
                rays: np.ndarray, nthreads: int = 0) -> RayHits:
    """First hits of one ray per pixel (``camera_rays`` (N, 3), optical z = 1) from the pose ``T_map_optical``.

    ``rays`` (N, 6) float32 is scratch space for the ray origins and world directions.
    """
    R, origin = T_map_optical[:3, :3].astype(np.float32), T_map_optical[:3, 3].astype(np.float32)
    rays[:, :3] = origin
    matmul_rows(camera_rays, R.T, out=rays[:, 3:])
    out = scene.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=nthreads)
    gid = out["geometry_ids"].numpy().astype(np.int64)
    gid[gid == MISS] = -1
    return RayHits(
        depth=out["t_hit"].numpy(),
        geometry=gid,
        primitive=out["primitive_ids"].numpy().astype(np.int64),
        uv=out["primitive_uvs"].numpy(),
        face_normal=out["primitive_normals"].numpy(),
        directions=rays[:, 3:].copy(),  # contiguous: shading is much slower on a strided view
        origin=origin.astype(np.float64),
    )
