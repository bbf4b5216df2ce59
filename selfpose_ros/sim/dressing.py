"""Dress a generated scene for realism: real-looking object materials (labels, prints, gloss, clear plastic),
wood, fabric and stone backgrounds, clutter on the table, and extra lights. Geometry of the objects, the
table and the room is left as generated, so a sequence differs between realism levels only in looks."""

from __future__ import annotations

import numpy as np

from selfpose_ros.sim.appearance import PART_STYLES, Light
from selfpose_ros.sim.clutter import CLUTTER_KINDS, clutter_mesh, place_clutter
from selfpose_ros.sim.realism import SceneDressing
from selfpose_ros.sim.scene import EnvironmentPart, PlacedObject, Scene
from selfpose_ros.sim.textures import Material, random_colour, solid_material
from selfpose_ros.sim.textures_real import make_real_texture

#: Texture kinds for object parts styled "texture" (labels and prints dominate, as on real products).
OBJECT_KINDS = ("label", "label", "printed", "stripes_multi", "checker", "noise", "dots", "solid", "plaid")
TABLE_KINDS = ("wood", "planks", "fabric", "stone", "marble", "plaid")
WALL_KINDS = ("solid", "noise", "stone", "fabric", "stripes", "solid")
FLOOR_KINDS = ("planks", "wood", "stone", "fabric", "checker")
CLUTTER_TEXTURES = ("label", "printed", "stripes_multi", "noise", "solid", "stone", "fabric")
#: Parts that may be made of transparent-looking material (clear bottles and glass bowls).
CLEAR_PARTS = {"bottle": ("body",), "bowl": ("outside", "inside")}


def _grey(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    g = rng.uniform(lo, hi)
    return np.array([g, g, g * rng.uniform(0.95, 1.05)], dtype=np.float32).clip(0, 1)


def _pick(kinds: tuple[str, ...], rng: np.random.Generator) -> str:
    return kinds[int(rng.integers(len(kinds)))]


def _finish(material: Material, glossy: bool, rng: np.random.Generator) -> Material:
    if glossy:
        material.specular = float(rng.uniform(0.25, 0.9))
        material.shininess = float(rng.uniform(15.0, 120.0))
    return material


def _part_material(style: str, rng: np.random.Generator) -> Material:
    if style == "texture":
        kind = _pick(OBJECT_KINDS, rng)
        return Material(
            make_real_texture(kind, rng, size=128),
            tile=rng.uniform(0.3, 1.0),
            mapping="cylinder",
            repeats_around=int(rng.integers(1, 4)),
        )
    colours = {
        "solid": lambda: random_colour(rng),
        "dark": lambda: _grey(rng, 0.03, 0.2),
        "metal": lambda: _grey(rng, 0.45, 0.85),
        "light": lambda: _grey(rng, 0.75, 0.95),
    }
    return solid_material(colours[style]())


def dress_objects(objects: list[PlacedObject], config: SceneDressing, rng: np.random.Generator) -> None:
    """Give every object new part materials: richer textures, glossy finishes, clear plastic or glass."""
    for obj in objects:
        styles = PART_STYLES[obj.category]
        clear = obj.category in CLEAR_PARTS and rng.uniform() < config.transparent_fraction
        tint = np.clip(np.array([0.85, 0.92, 0.9]) + rng.uniform(-0.12, 0.08, 3), 0, 1).astype(np.float32)
        chosen: dict[str, Material] = {}
        for name in obj.shape.part_names:
            style = styles[name]
            if style.startswith("same:"):
                continue
            if clear and name in CLEAR_PARTS[obj.category]:
                chosen[name] = Material(
                    np.broadcast_to(tint, (1, 1, 3)).copy(),
                    tile=1.0,
                    specular=0.9,
                    shininess=float(rng.uniform(60, 150)),
                    transparent=True,
                )
                continue
            material = _part_material(style if config.rich_textures else "solid", rng)
            gloss = min(1.0, 2 * config.glossy_fraction) if style == "metal" else config.glossy_fraction
            glossy = rng.uniform() < gloss
            chosen[name] = _finish(material, glossy, rng)
        for name in obj.shape.part_names:
            if styles[name].startswith("same:"):
                other = styles[name].split(":", 1)[1]
                chosen[name] = chosen.get(other) or _part_material("solid", rng)
        obj.materials = [chosen[n] for n in obj.shape.part_names]


def dress_room(environment: list[EnvironmentPart], rng: np.random.Generator) -> None:
    """Wood, planks, fabric, stone or marble for the table; stone, fabric, paint for walls; boards or tiles below."""
    kinds = {"table": (TABLE_KINDS, (0.25, 0.9)), "walls": (WALL_KINDS, (0.8, 3.0)), "floor": (FLOOR_KINDS, (0.5, 2.0))}
    for part in environment:
        if part.name in kinds:
            choice, tile = kinds[part.name]
            part.material = Material(make_real_texture(_pick(choice, rng), rng), tile=rng.uniform(*tile), mapping="box")


def add_clutter(scene: Scene, count: int, rng: np.random.Generator) -> int:
    """Put up to ``count`` clutter things on the table; return how many fitted."""
    table = next((p for p in scene.environment if p.name == "table"), None)
    if table is None or count <= 0:
        return 0
    max_h = max(0.03, 0.9 * scene.max_object_height)
    meshes = [clutter_mesh(_pick(CLUTTER_KINDS, rng), rng, max_h) for _ in range(count)]
    busy = [
        (
            float(o.T_map_object[0, 3]),
            float(o.T_map_object[1, 3]),
            0.5 * o.scale * float(np.hypot(o.shape.extents[0], o.shape.extents[2])),
        )
        for o in scene.objects
    ]
    lo, hi = table.mesh.bounds
    near = (float(scene.target[0]), float(scene.target[1]), 1.6 * scene.region_radius + 0.1)
    placed = place_clutter(meshes, busy, np.array([lo[:2], hi[:2]]), near, scene.table_top_z, rng)
    for mesh in placed:
        material = Material(
            make_real_texture(_pick(CLUTTER_TEXTURES, rng), rng), tile=rng.uniform(0.05, 0.3), mapping="box"
        )
        scene.environment.append(EnvironmentPart("clutter", mesh, material))
    return len(placed)


def extra_light(rng: np.random.Generator) -> Light:
    """A further directional light: any azimuth, elevation 15-75 degrees, warm to cool tint, dimmer than the main."""
    elevation, azimuth = np.deg2rad(rng.uniform(15, 75)), rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    warmth = rng.uniform(-1.0, 1.0)  # -1 cool daylight, +1 warm tungsten
    colour = np.array([1.0 + 0.15 * warmth, 1.0, 1.0 - 0.25 * warmth], np.float32)
    return Light(direction, colour, ambient=0.0, diffuse=float(rng.uniform(0.15, 0.45)))


def dress_scene(scene: Scene, config: SceneDressing, rng: np.random.Generator) -> None:
    """Apply ``config`` to ``scene`` in place (materials, room, clutter, lights), drawing only from ``rng``."""
    if config.rich_textures or config.glossy_fraction or config.transparent_fraction:
        dress_objects(scene.objects, config, rng)
    if config.rich_textures:
        dress_room(scene.environment, rng)
    if config.clutter[1] > 0:
        add_clutter(scene, int(rng.integers(config.clutter[0], config.clutter[1] + 1)), rng)
    if config.extra_lights[1] > 0:
        scene.extra_lights = [extra_light(rng) for _ in range(int(rng.integers(*config.extra_lights, endpoint=True)))]
