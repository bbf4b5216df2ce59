"""Tabletop scenes: a room, a table, and 1-6 non-intersecting upright objects with random yaw and looks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import trimesh

from selfpose_ros.conventions import CATEGORIES, encode_label
from selfpose_ros.geometry.transforms import rigid
from selfpose_ros.shapes.instance import RENDER_RESOLUTION, ShapeInstance
from selfpose_ros.shapes.registry import category_shape, sample_instance
from selfpose_ros.sim.appearance import (
    TABLE_TEXTURES,
    WALL_TEXTURES,
    Light,
    object_materials,
    random_light,
    surface_material,
)
from selfpose_ros.sim.textures import Material

#: Rotation taking the canonical frame (+Y up) to an upright pose in map (+Z up): canonical z -> map -y.
R_CANONICAL_UPRIGHT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class SceneConfig:
    """What a scene may contain."""

    categories: tuple[str, ...] = CATEGORIES  # categories objects are drawn from
    label_categories: tuple[str, ...] = CATEGORIES  # category list of the panoptic label encoding
    min_objects: int = 1
    max_objects: int = 6
    resolution: int = RENDER_RESOLUTION

    def __post_init__(self) -> None:
        if not self.categories:
            raise ValueError("scene needs at least one category")
        for c in self.categories:
            category_shape(c)  # raises for unknown names
            if c not in self.label_categories:
                raise ValueError(f"category {c!r} is not in the label category list {self.label_categories}")
        if not 1 <= self.min_objects <= self.max_objects <= 12:
            raise ValueError(f"object count range must satisfy 1 <= min <= max <= 12, got "
                             f"{self.min_objects}-{self.max_objects}")


@dataclass
class PlacedObject:
    """An object instance standing on the table: canonical shape, scale s, rigid pose canonical -> map."""

    category: str
    instance_id: int
    label: int
    shape: ShapeInstance
    scale: float
    T_map_object: np.ndarray
    materials: list[Material]

    @property
    def size(self) -> np.ndarray:
        """Metric size of the canonical box (x, y, z extents in metres)."""
        return self.scale * self.shape.extents

    def vertices_in_map(self) -> np.ndarray:
        """Mesh vertices (V, 3) in the map frame."""
        v = self.scale * np.asarray(self.shape.mesh.vertices)
        return v @ self.T_map_object[:3, :3].T + self.T_map_object[:3, 3]


@dataclass
class EnvironmentPart:
    """A static piece of the room (walls, floor, table top, legs) as a mesh in map."""

    name: str
    mesh: trimesh.Trimesh
    material: Material


@dataclass
class Scene:
    """Everything static in a simulated sequence."""

    objects: list[PlacedObject]
    environment: list[EnvironmentPart]
    light: Light
    table_top_z: float
    target: np.ndarray  # point the camera looks at (map)
    region_radius: float  # objects stand inside this radius around the target's xy
    room_half_size: float
    extra_lights: list[Light] = field(default_factory=list)  # further directional lights (no ambient term)
    max_object_height: float = field(init=False)

    def __post_init__(self) -> None:
        self.max_object_height = max((float(o.size[1]) for o in self.objects), default=0.0)


def _footprint_radius(shape: ShapeInstance, scale: float) -> float:
    return 0.5 * scale * float(np.hypot(shape.extents[0], shape.extents[2]))


def _place(radii: list[float], rng: np.random.Generator, gap: float = 0.01) -> tuple[np.ndarray, float]:
    """Positions (n, 2) of discs with the given radii, non-overlapping, inside a region; return (xy, region)."""
    order = np.argsort(radii)[::-1]
    region = max(0.15, 1.2 * float(np.sqrt(np.sum(np.square(radii)))) + 0.5 * max(radii))
    for _ in range(12):
        xy = np.zeros((len(radii), 2))
        placed: list[int] = []
        for i in order:
            room = region - radii[i]
            for _try in range(300):
                r, a = room * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
                cand = np.array([r * np.cos(a), r * np.sin(a)])
                if all(np.linalg.norm(cand - xy[j]) >= radii[i] + radii[j] + gap for j in placed):
                    xy[i] = cand
                    placed.append(i)
                    break
            else:
                break
        if len(placed) == len(radii):
            return xy, region
        region *= 1.15
    raise ValueError(f"could not place {len(radii)} objects without overlap")


def _box(extents: tuple[float, float, float], centre: tuple[float, float, float]) -> trimesh.Trimesh:
    mesh = trimesh.creation.box(extents=extents)
    mesh.apply_translation(centre)
    return mesh


def _environment(
    rng: np.random.Generator, centre: np.ndarray, region: float
) -> tuple[list[EnvironmentPart], float, float]:
    """Room (walls + floor) and a table big enough for the object region; return (parts, top z, room half size)."""
    top_z = float(rng.uniform(0.65, 0.85))
    thick = float(rng.uniform(0.03, 0.05))
    lx = max(2 * region + 0.25, rng.uniform(0.8, 1.6))
    ly = max(2 * region + 0.25, rng.uniform(0.6, 1.0))
    half = float(rng.uniform(2.5, 3.5))
    height = float(rng.uniform(2.6, 3.2))
    cx, cy = float(centre[0]), float(centre[1])
    # Table offset from the object region so the objects are not always in its middle.
    ox = rng.uniform(-0.5, 0.5) * (lx - 2 * region - 0.2)
    oy = rng.uniform(-0.5, 0.5) * (ly - 2 * region - 0.2)
    tx, ty = cx + ox, cy + oy
    table = surface_material(TABLE_TEXTURES, rng, tile=(0.2, 0.8))
    legs = surface_material(("solid",), rng, tile=(0.5, 1.0))
    parts = [
        EnvironmentPart("walls", _box((2 * half, 2 * half, height), (cx, cy, height / 2 - 0.05)),
                        surface_material(WALL_TEXTURES, rng, tile=(0.8, 3.0))),
        EnvironmentPart("floor", _box((2 * half - 0.01, 2 * half - 0.01, 0.05), (cx, cy, -0.025)),
                        surface_material(("wood", "checker", "noise", "solid"), rng, tile=(0.4, 1.5))),
        EnvironmentPart("table", _box((lx, ly, thick), (tx, ty, top_z - thick / 2)), table),
    ]
    leg = 0.05
    for sx in (-1, 1):
        for sy in (-1, 1):
            centre_leg = (tx + sx * (lx / 2 - leg), ty + sy * (ly / 2 - leg), (top_z - thick) / 2)
            parts.append(EnvironmentPart("leg", _box((leg, leg, top_z - thick), centre_leg), legs))
    return parts, top_z, half


def generate_scene(rng: np.random.Generator, config: SceneConfig = SceneConfig()) -> Scene:
    """Draw a random tabletop scene from ``config``."""
    n = int(rng.integers(config.min_objects, config.max_objects + 1))
    categories = [config.categories[i] for i in rng.integers(len(config.categories), size=n)]
    shapes = [sample_instance(c, rng, config.resolution) for c in categories]
    scales = [s.sample_scale(rng) for s in shapes]
    xy, region = _place([_footprint_radius(s, k) for s, k in zip(shapes, scales, strict=True)], rng)
    centre = rng.uniform(-1.0, 1.0, size=2)
    environment, top_z, half = _environment(rng, centre, region)
    counts: Counter[str] = Counter()
    objects = []
    for cat, shape, s, (x, y) in zip(categories, shapes, scales, xy, strict=True):
        counts[cat] += 1
        yaw = rng.uniform(0, 2 * np.pi)
        Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
        t = np.array([centre[0] + x, centre[1] + y, top_z + 0.5 * s * shape.extents[1]])
        objects.append(PlacedObject(
            category=cat, instance_id=counts[cat], label=encode_label(cat, counts[cat], config.label_categories),
            shape=shape, scale=s, T_map_object=rigid(Rz @ R_CANONICAL_UPRIGHT, t),
            materials=object_materials(cat, shape.part_names, rng),
        ))
    heights = [o.size[1] for o in objects]
    target = np.array([centre[0], centre[1], top_z + 0.5 * float(np.median(heights))])
    return Scene(objects, environment, random_light(rng), top_z, target, region, half)
