"""Random appearance of objects and of the room: materials per object part, table, floor, walls, light."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfpose_ros.sim.textures import Material, make_texture, random_colour, solid_material

#: How each part of each category is coloured: "texture" (random procedural texture), "solid" (random colour),
#: "dark", "metal", "light", or "same:<part>" (reuse another part's material).
PART_STYLES: dict[str, dict[str, str]] = {
    "bottle": {"body": "texture", "cap": "solid"},
    "bowl": {"outside": "texture", "inside": "solid"},
    "can": {"label": "texture", "metal": "metal"},
    "mug": {"outside": "texture", "inside": "light", "handle": "same:outside"},
    "laptop": {"base": "metal", "keyboard": "dark", "lid": "same:base", "screen": "dark", "hinge": "dark"},
    "camera": {"body": "dark", "lens": "dark", "ring": "metal", "grip": "dark", "hump": "same:body", "button": "metal"},
}

#: Texture kinds used on objects (canonical units) and on room surfaces (metres).
OBJECT_TEXTURES = ("solid", "checker", "stripes", "noise", "plaid", "dots")
TABLE_TEXTURES = ("wood", "checker", "noise", "plaid", "solid", "stripes")
WALL_TEXTURES = ("solid", "noise", "stripes", "solid")


@dataclass(frozen=True)
class Light:
    """A directional light plus ambient term; ``direction`` is the unit vector towards the light in map."""

    direction: np.ndarray
    colour: np.ndarray
    ambient: float
    diffuse: float


def _grey(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    g = rng.uniform(lo, hi)
    return np.array([g, g, g * rng.uniform(0.95, 1.05)], dtype=np.float32).clip(0, 1)


def _style_material(style: str, rng: np.random.Generator) -> Material:
    if style == "texture":
        kind = OBJECT_TEXTURES[rng.integers(len(OBJECT_TEXTURES))]
        return Material(make_texture(kind, rng, size=128), tile=rng.uniform(0.25, 0.8), mapping="cylinder",
                        repeats_around=int(rng.integers(1, 5)))
    if style == "solid":
        return solid_material(random_colour(rng))
    if style == "dark":
        return solid_material(_grey(rng, 0.05, 0.2))
    if style == "metal":
        return solid_material(_grey(rng, 0.45, 0.8))
    if style == "light":
        return solid_material(_grey(rng, 0.75, 0.95))
    raise ValueError(f"unknown part style {style!r}")


def object_materials(category: str, part_names: tuple[str, ...], rng: np.random.Generator) -> list[Material]:
    """One material per part of an object of ``category``, following ``PART_STYLES`` (with random swaps)."""
    styles = PART_STYLES.get(category)
    if styles is None:
        raise ValueError(f"no part styles for category {category!r}")
    chosen: dict[str, Material] = {}
    for name in part_names:
        style = styles.get(name)
        if style is None:
            raise ValueError(f"category {category!r} has no style for part {name!r}")
        if style in ("dark", "metal") and rng.uniform() < 0.3:
            style = "solid"  # coloured laptops and cameras exist too
        if not style.startswith("same:"):
            chosen[name] = _style_material(style, rng)
    for name in part_names:
        style = styles[name]
        if style.startswith("same:"):
            other = style.split(":", 1)[1]
            chosen[name] = chosen[other] if other in chosen else _style_material("solid", rng)
    return [chosen[n] for n in part_names]


def surface_material(kinds: tuple[str, ...], rng: np.random.Generator, tile: tuple[float, float]) -> Material:
    """A box-mapped material for a room surface with a texture kind drawn from ``kinds``."""
    kind = kinds[rng.integers(len(kinds))]
    return Material(make_texture(kind, rng), tile=rng.uniform(*tile), mapping="box")


def random_light(rng: np.random.Generator) -> Light:
    """A light from above (elevation 35-80 degrees), random azimuth, slightly tinted."""
    elevation, azimuth = np.deg2rad(rng.uniform(35, 80)), rng.uniform(0, 2 * np.pi)
    direction = np.array(
        [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)]
    )
    tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.08, 0.08) * np.array([1.0, 0.0, -1.0])
    return Light(direction, tint.astype(np.float32), ambient=float(rng.uniform(0.25, 0.45)),
                 diffuse=float(rng.uniform(0.6, 0.9)))
