"""Colour image from ray hits: procedural albedo per surface, Lambert diffuse plus ambient light.

The room and table (flat faces, box-mapped textures) are shaded for the whole image at once through
look-up tables (no per-surface gathers); objects are then shaded on their own pixels, with smooth normals
where the raycaster provides them. Optional (realism): further lights, Blinn-Phong highlights on glossy
parts, transparent-looking parts that blend in what a continued ray hits behind them, and per-pixel cues
(albedo luminance, highlight strength, transparency) for the depth sensor's material-dependent holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfpose_ros.sim.raycaster import RayHits, SceneRaycaster
from selfpose_ros.sim.row_products import matmul_rows, row_dots, row_norms
from selfpose_ros.sim.scene import PlacedObject, Scene


def group_by_geometry(geometry: np.ndarray, count: int) -> list[np.ndarray]:
    """Pixel indices of each geometry id in ``0..count-1`` (a linear-time radix sort on int16 ids)."""
    if count >= 2**15 - 1:
        raise ValueError(f"too many geometries ({count}) for int16 grouping")
    ids = geometry.astype(np.int16)
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(count + 1, dtype=np.int16))  # -1 (misses) sort first
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


class Shader:
    """Shades ray hits of one scene; environment textures are packed into one atlas at construction."""

    def __init__(self, scene: Scene, raycaster: SceneRaycaster):
        self.scene, self.raycaster = scene, raycaster
        geoms = raycaster.geometries
        light = scene.light
        self._gain = (light.colour * np.float32(255.0)).astype(np.float32)
        materials, mat_index = [], []
        for g in geoms:
            if g.object_index >= 0:
                mat_index.append(0)
                continue
            m = scene.environment[g.env_index].material
            if m.mapping != "box":
                raise ValueError("environment materials must use box mapping")
            if not any(m is x for x in materials):
                materials.append(m)
            mat_index.append(next(i for i, x in enumerate(materials) if x is m))
        size = {m.texture.shape[0] for m in materials}
        if len(size) != 1:
            raise ValueError(f"environment textures must share one size, got {sorted(size)}")
        self._size = size.pop()
        raw = np.concatenate([m.texture.reshape(-1, 3) for m in materials])
        self._atlas = raw * self._gain
        self._atlas_lum = (raw @ _LUMA).astype(np.float32)
        sentinel = [0]  # index -1 (no hit) reads the last entry
        self._mat_offset = np.array(mat_index + sentinel, dtype=np.int64) * self._size**2
        self._tile = np.array([1.0 if g.object_index >= 0 else scene.environment[g.env_index].material.tile
                               for g in geoms] + [1.0], dtype=np.float32)
        env = [g for g in geoms if g.object_index < 0]
        offsets = np.cumsum([0] + [len(g.faces) for g in env])
        face_offset, k = [], 0
        for g in geoms:
            face_offset.append(offsets[k] if g.object_index < 0 else 0)
            k += g.object_index < 0
        self._face_offset = np.array(face_offset + [0], dtype=np.int64)
        self._is_env = np.array([g.object_index < 0 for g in geoms] + [False])
        self._face_normals = np.concatenate([g.face_normals for g in env])
        self._face_centres = np.concatenate([g.face_centres for g in env])
        self._face_axis = np.concatenate([g.face_axis for g in env])

    def _wrap(self, x: np.ndarray) -> np.ndarray:
        """``floor(x) mod size`` as int64 texel coordinates (a bit mask when the size is a power of two)."""
        i = np.floor(x).astype(np.int64)
        if self._size & (self._size - 1) == 0:
            return np.bitwise_and(i, self._size - 1, out=i)
        return np.remainder(i, self._size, out=i)

    def shade(self, hits: RayHits) -> tuple[np.ndarray, np.ndarray]:
        """Return (rgb (N, 3) uint8, cos of the incidence angle (N,) float32 from geometric normals)."""
        layers = self.shade_layers(hits, cues=False)
        return layers.rgb, layers.cos_incidence

    def shade_layers(self, hits: RayHits, cues: bool = True) -> ShadeLayers:
        """Colour and cos of incidence of a full-image cast, plus (with ``cues``) what the depth sensor needs."""
        radiance, albedo_lum, specular, transparent, d_dot_fn = self._radiance(hits, cues, see_through=True)
        rgb = np.minimum(radiance, np.float32(255.0)).astype(np.uint8)
        g = hits.geometry
        cos_inc = np.abs(d_dot_fn) / self.raycaster.camera.ray_norms.reshape(-1)
        return ShadeLayers(rgb, np.where(g >= 0, cos_inc, np.float32(0.0)).astype(np.float32), albedo_lum, specular,
                           transparent)

    def _radiance(self, hits: RayHits, cues: bool, see_through: bool) -> tuple[np.ndarray, ...]:
        """Radiance (N, 3) float32 of any set of hits; with ``cues`` albedo luminance, specular strength and
        transparency per hit (else None); and the dot product of face normal and ray direction."""
        scene, light = self.scene, self.scene.light
        extra = scene.extra_lights
        ambient, diffuse = np.float32(light.ambient), np.float32(light.diffuse)
        L = light.direction.astype(np.float32)
        origin = hits.origin.astype(np.float32)
        g = hits.geometry
        hit = g >= 0
        depth = np.where(hit, hits.depth, np.float32(0.0))
        d = hits.directions
        # Hit points origin + depth * direction, one coordinate at a time (numpy is slow on rows of three).
        px, py, pz = (origin[k] + depth * d[:, k] for k in range(3))
        # Environment, whole image: per-face intensity (the camera-facing side is lit) and box mapping.
        side = np.where(np.einsum("ij,ij->i", self._face_normals, origin - self._face_centres) > 0, 1.0, -1.0)
        face_intensity = (ambient + diffuse * np.maximum(self._face_normals @ L * side, 0.0)).astype(np.float32)
        face = np.take(self._face_offset, g) + np.where(np.take(self._is_env, g), hits.primitive, 0)
        axis = np.take(self._face_axis, face)
        scale = np.float32(self._size) / np.take(self._tile, g)
        u = np.where(axis == 0, py, px) * scale
        v = np.where(axis == 2, py, pz) * scale
        texel = np.take(self._mat_offset, g) + self._wrap(v) * self._size
        texel += self._wrap(u)
        radiance = np.take(self._atlas, texel, axis=0)  # np.take: a row gather much faster than indexing
        if extra:
            tinted = face_intensity[:, None] + sum(
                np.float32(x.diffuse) * np.maximum(self._face_normals @ x.direction.astype(np.float32) * side, 0.0)
                [:, None].astype(np.float32) * (x.colour / light.colour).astype(np.float32) for x in extra)
            radiance *= np.take(tinted, face, axis=0)
        else:
            radiance *= np.take(face_intensity, face)[:, None]
        n_hits = len(g)
        albedo_lum = np.take(self._atlas_lum, texel) if cues else None
        specular = np.zeros(n_hits, np.float32) if cues else None
        transparent = np.zeros(n_hits, bool) if cues else None
        glass: list[tuple[np.ndarray, np.ndarray]] = []
        # Objects, on their own pixels only.
        d_dot_fn = row_dots(hits.face_normal, hits.directions)
        object_pixels = np.flatnonzero(~np.take(self._is_env, g) & hit)
        groups = group_by_geometry(np.take(g, object_pixels), len(self.raycaster.geometries))
        for gi, group in enumerate(groups):
            geom = self.raycaster.geometries[gi]
            if group.size == 0 or geom.object_index < 0:
                continue
            obj = scene.objects[geom.object_index]
            pix = np.take(object_pixels, group)
            towards_camera = np.where(np.take(d_dot_fn, pix) > 0, np.float32(-1.0), np.float32(1.0))
            normals = self.raycaster.shading_normals(hits, pix, geom)
            lambert = np.maximum(normals @ L * towards_camera, 0.0)
            primitive = np.take(hits.primitive, pix)
            points = origin + np.take(depth, pix)[:, None] * np.take(d, pix, axis=0)
            albedo = _object_albedo(obj, points, np.take(hits.face_normal, pix, axis=0), primitive)
            if not extra:
                rad = albedo * ((ambient + diffuse * lambert)[:, None] * self._gain)
            else:
                light_rgb = (ambient + diffuse * lambert)[:, None] * self._gain
                for x in extra:
                    lam = np.maximum(normals @ x.direction.astype(np.float32) * towards_camera, 0.0)
                    light_rgb = light_rgb + (np.float32(x.diffuse) * lam)[:, None] * (x.colour * 255.0).astype(
                        np.float32)
                rad = albedo * light_rgb
            if cues:
                albedo_lum[pix] = albedo @ _LUMA
            finish = _object_finish(obj, primitive)
            if finish is None:
                radiance[pix] = rad
                continue
            spec, shininess, clear = finish
            n_view = normals * towards_camera[:, None]
            view = -np.take(hits.directions, pix, axis=0)
            view /= row_norms(view)
            highlight = np.zeros(len(pix), np.float32)
            for x in [light, *extra]:
                h = x.direction.astype(np.float32) + view
                h /= np.maximum(row_norms(h), np.float32(1e-6))
                lit = (n_view @ x.direction.astype(np.float32)) > 0
                s = spec * np.where(lit, np.maximum(row_dots(n_view, h), 0.0), 0.0) ** shininess
                rad += s[:, None] * (np.float32(x.diffuse) * x.colour * 255.0).astype(np.float32)
                highlight += s
            radiance[pix] = rad  # one scatter per object, after its highlights
            if cues:
                specular[pix] = np.minimum(highlight, 1.0)
                transparent[pix] = clear
            if see_through and np.any(clear):
                glass.append((pix[clear], np.abs(row_dots(n_view[clear], view[clear]))))
        for pix, cos_view in glass:
            self._see_through(hits, radiance, pix, cos_view)
        return radiance, albedo_lum, specular, transparent, d_dot_fn

    def _see_through(self, hits: RayHits, radiance: np.ndarray, pix: np.ndarray, cos_view: np.ndarray) -> None:
        """Blend what lies behind into transparent-looking pixels (more at normal incidence, as Fresnel says)."""
        behind = self.raycaster.cast_behind(hits, pix, max_steps=2)  # through one wall; a far wall stays opaque
        back = self._radiance(behind, cues=False, see_through=False)[0]
        transmit = (np.float32(0.75) * np.sqrt(np.clip(cos_view, 0.0, 1.0)))[:, None].astype(np.float32)
        radiance[pix] = transmit * back + (1 - transmit) * radiance[pix]


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass
class ShadeLayers:
    """A shaded full-image cast: colour, incidence, and per-pixel cues for material-dependent depth errors."""

    rgb: np.ndarray  # (N, 3) uint8
    cos_incidence: np.ndarray  # (N,) float32, 0 where nothing was hit
    albedo_luminance: np.ndarray | None  # (N,) float32 in [0, 1]: surface brightness without lighting
    specular: np.ndarray | None  # (N,) float32 in [0, 1]: highlight strength
    transparent: np.ndarray | None  # (N,) bool: transparent-looking material


def _object_finish(obj: PlacedObject, primitive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per-pixel (specular, shininess, transparent) of an object's pixels; None when every part is matte."""
    if not any(m.specular > 0 or m.transparent for m in obj.materials):
        return None
    parts = np.take(obj.shape.face_parts, primitive)
    spec = np.array([m.specular for m in obj.materials], np.float32)[parts]
    shin = np.array([m.shininess for m in obj.materials], np.float32)[parts]
    clear = np.array([m.transparent for m in obj.materials], bool)[parts]
    return spec, shin, clear


def _object_albedo(obj: PlacedObject, points: np.ndarray, normals: np.ndarray, primitive: np.ndarray) -> np.ndarray:
    """Albedo of an object's pixels: each part's material sampled in the canonical frame."""
    R, t = obj.T_map_object[:3, :3].astype(np.float32), obj.T_map_object[:3, 3].astype(np.float32)
    local = matmul_rows(points - t, R) / np.float32(obj.scale)
    local_n = matmul_rows(normals, R)
    parts = np.take(obj.shape.face_parts, primitive)
    if len(obj.materials) == 1:
        return obj.materials[0].sample(local, local_n)
    albedo = np.empty((len(points), 3), dtype=np.float32)
    for k, material in enumerate(obj.materials):
        idx = np.flatnonzero(parts == k)
        if idx.size == len(points):
            return material.sample(local, local_n)
        if idx.size:
            albedo[idx] = material.sample(np.take(local, idx, axis=0), np.take(local_n, idx, axis=0))
    return albedo
