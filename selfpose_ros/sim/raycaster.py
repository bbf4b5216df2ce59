"""Ray casting of a static scene with Open3D's Embree-backed RaycastingScene (CPU, no display)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import trimesh

from selfpose_ros.sim.pinhole import PinholeCamera
from selfpose_ros.sim.ray_cast import MISS, RayHits, cast_pixels, raycasting_scene
from selfpose_ros.sim.row_products import row_norms
from selfpose_ros.sim.scene import Scene

__all__ = ["MISS", "Geometry", "RayHits", "SceneRaycaster", "corner_normals"]


@dataclass
class Geometry:
    """One mesh in the ray-casting scene: an environment part or an object (``object_index`` >= 0)."""

    object_index: int
    env_index: int
    faces: np.ndarray  # (F, 3) int64
    corner_normals: np.ndarray | None  # (F, 3, 3) map-frame normals for smooth shading, or None (flat)
    face_normals: np.ndarray  # (F, 3) float32 geometric normals in map
    face_centres: np.ndarray  # (F, 3) float32 in map
    face_axis: np.ndarray  # (F,) int64 dominant axis of each face normal (for box texture mapping)


def corner_normals(mesh: trimesh.Trimesh, crease_deg: float = 35.0) -> np.ndarray:
    """Normals (F, 3, 3) at each face corner: area-weighted mean of adjacent faces within the crease angle."""
    vf = mesh.vertex_faces  # (V, max_degree), padded with -1
    fn = np.asarray(mesh.face_normals)
    weight_n = fn * np.asarray(mesh.area_faces)[:, None]
    corner_faces = vf[mesh.faces]  # (F, 3, D)
    valid = corner_faces >= 0
    idx = np.where(valid, corner_faces, 0)
    close = np.einsum("fcdk,fk->fcd", fn[idx], fn) > np.cos(np.deg2rad(crease_deg))
    summed = np.einsum("fcdk,fcd->fck", weight_n[idx], (valid & close).astype(float))
    norm = np.linalg.norm(summed, axis=-1, keepdims=True)
    return np.where(norm > 1e-12, summed / np.maximum(norm, 1e-12), fn[:, None, :]).astype(np.float32)


def _geometry(mesh: trimesh.Trimesh, object_index: int, env_index: int, normals: np.ndarray | None) -> Geometry:
    fn = np.asarray(mesh.face_normals, dtype=np.float32)
    return Geometry(object_index, env_index, np.asarray(mesh.faces), normals, fn,
                    np.asarray(mesh.triangles_center, dtype=np.float32), np.abs(fn).argmax(axis=1))


class SceneRaycaster:
    """Casts camera rays into a static scene; also casts rays at each object alone (for visibility)."""

    def __init__(self, scene: Scene, camera: PinholeCamera, smooth_categories: tuple[str, ...] | None = None):
        smooth = smooth_categories if smooth_categories is not None else ("bottle", "bowl", "can", "mug")
        self.camera = camera
        self.geometries: list[Geometry] = []
        self._solo: list[o3d.t.geometry.RaycastingScene] = []
        self._corners: list[np.ndarray] = []
        self._meshes: list[tuple[np.ndarray, np.ndarray]] = []
        for i, part in enumerate(scene.environment):
            self._add(part.mesh.vertices, part.mesh.faces, _geometry(part.mesh, -1, i, None))
        for j, obj in enumerate(scene.objects):
            verts = obj.vertices_in_map()
            faces = np.asarray(obj.shape.mesh.faces)
            mesh = trimesh.Trimesh(verts, faces, process=False)
            normals = corner_normals(mesh) if obj.category in smooth else None
            self._add(verts, faces, _geometry(mesh, j, -1, normals))
            self._solo.append(raycasting_scene(self._meshes[-1:]))
            lo, hi = obj.shape.mesh.bounds * obj.scale
            box = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
            self._corners.append(box @ obj.T_map_object[:3, :3].T + obj.T_map_object[:3, 3])
        self._scene = raycasting_scene(self._meshes)  # geometry ids follow self.geometries
        self._rays = np.empty((camera.height * camera.width, 6), dtype=np.float32)
        self._object_of = np.array([g.object_index for g in self.geometries] + [-1], dtype=np.int64)

    def _add(self, vertices: np.ndarray, faces: np.ndarray, info: Geometry) -> None:
        self._meshes.append((np.ascontiguousarray(vertices, dtype=np.float32),
                             np.ascontiguousarray(faces, dtype=np.uint32)))
        self.geometries.append(info)

    def cast(self, T_map_optical: np.ndarray, nthreads: int = 0) -> RayHits:
        """Cast one ray per pixel from the optical frame pose ``T_map_optical`` (4x4); nthreads 0 = all cores."""
        return cast_pixels(self._scene, self.camera.rays, T_map_optical, self._rays, nthreads)

    @property
    def meshes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(vertices (V, 3) float32, faces (F, 3) uint32) of every geometry, in geometry-id order."""
        return list(self._meshes)

    def cast_behind(self, hits: RayHits, pixels: np.ndarray, max_steps: int = 4) -> RayHits:
        """Hits of the rays through ``pixels`` beyond the geometry they first hit (what is seen through it).

        Each ray is continued from just past its hit until it hits another geometry or nothing (at most
        ``max_steps`` casts, enough to enter and leave a thin-walled solid twice). ``depth`` is the total
        distance along the ray (optical z), so ``origin + depth * direction`` is the point behind.
        """
        first = np.take(hits.geometry, pixels)
        t = np.take(hits.depth, pixels).astype(np.float32)
        d = np.take(hits.directions, pixels, axis=0)
        geometry, primitive = first.copy(), np.take(hits.primitive, pixels)
        uv, normal = np.take(hits.uv, pixels, axis=0), np.take(hits.face_normal, pixels, axis=0)
        eps = np.float32(2e-4)  # optical-z metres past each hit
        active = np.flatnonzero(geometry >= 0)
        for _ in range(max_steps):
            if active.size == 0:
                break
            rays = np.empty((active.size, 6), dtype=np.float32)
            start = t[active] + eps
            rays[:, :3] = hits.origin.astype(np.float32) + start[:, None] * d[active]
            rays[:, 3:] = d[active]
            out = self._scene.cast_rays(o3d.core.Tensor.from_numpy(rays))
            gid = out["geometry_ids"].numpy().astype(np.int64)
            gid[gid == MISS] = -1
            t[active] = start + out["t_hit"].numpy()
            geometry[active], primitive[active] = gid, out["primitive_ids"].numpy().astype(np.int64)
            uv[active], normal[active] = out["primitive_uvs"].numpy(), out["primitive_normals"].numpy()
            active = active[gid == first[active]]
        return RayHits(depth=t, geometry=geometry, primitive=primitive, uv=uv, face_normal=normal, directions=d,
                       origin=hits.origin)

    def object_index(self, hits: RayHits) -> np.ndarray:
        """(N,) index into scene.objects of the object each pixel sees, -1 for environment or nothing."""
        return np.take(self._object_of, hits.geometry)

    def unoccluded_pixels(self, object_index: int, T_map_optical: np.ndarray, hits: RayHits,
                          pixel_object: np.ndarray) -> int:
        """How many in-image pixels the object would cover with nothing in front of it.

        ``pixel_object`` is ``object_index(hits)``: pixels where the object is already the first hit count
        directly; only the other pixels of its projected box are cast again, against the object alone.
        """
        cam = self.camera
        T_opt_map = np.linalg.inv(T_map_optical)
        pts = self._corners[object_index] @ T_opt_map[:3, :3].T + T_opt_map[:3, 3]
        if np.all(pts[:, 2] <= 1e-3):
            return 0
        u0, v0, u1, v1 = 0, 0, cam.width, cam.height
        if np.all(pts[:, 2] > 1e-3):
            uv = cam.project(pts)
            u0, v0 = max(0, int(np.floor(uv[:, 0].min()))), max(0, int(np.floor(uv[:, 1].min())))
            u1 = min(cam.width, int(np.ceil(uv[:, 0].max())) + 1)
            v1 = min(cam.height, int(np.ceil(uv[:, 1].max())) + 1)
            if u0 >= u1 or v0 >= v1:
                return 0
        seen = pixel_object.reshape(cam.height, cam.width)[v0:v1, u0:u1] == object_index
        other = ~seen
        rays = np.empty((int(np.count_nonzero(other)), 6), dtype=np.float32)
        rays[:, :3] = hits.origin
        rays[:, 3:] = hits.directions.reshape(cam.height, cam.width, 3)[v0:v1, u0:u1][other]
        # Only whether each ray meets the object counts: Embree's occlusion test, cheaper than a full hit.
        hit = self._solo[object_index].test_occlusions(o3d.core.Tensor.from_numpy(rays)).numpy()
        return int(np.count_nonzero(seen)) + int(np.count_nonzero(hit))

    def shading_normals(self, hits: RayHits, pixels: np.ndarray, geometry: Geometry) -> np.ndarray:
        """Shading normals (n, 3) in map at ``pixels`` of one geometry: smooth where it has corner normals."""
        if geometry.corner_normals is None:
            return np.take(hits.face_normal, pixels, axis=0)
        cn = np.take(geometry.corner_normals, np.take(hits.primitive, pixels), axis=0)  # (n, 3, 3)
        uv = np.take(hits.uv, pixels, axis=0)
        u, v = uv[:, 0:1], uv[:, 1:2]
        n = cn[:, 0] * (1.0 - u - v) + cn[:, 1] * u + cn[:, 2] * v
        return n / np.maximum(row_norms(n), 1e-12)
