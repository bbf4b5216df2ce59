"""Mug: a revolved cup (tapered, bulged wall, cavity) fused with a torus handle along +X. Mirror-symmetric in Z."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import trimesh

from selfpose_ros.shapes.instance import BuiltShape, CategoryShape, MetricRange
from selfpose_ros.shapes.mesh_ops import difference, keep_corners, revolve_y, union_labelled

#: Parameter ranges, lengths in bottom radii.
RANGES = {
    "height": (1.5, 3.4),  # wide cappuccino cup to tall latte mug
    "taper": (0.8, 1.3),  # top radius / bottom radius
    "bulge": (0.0, 0.12),
    "thickness": (0.06, 0.12),
    "base_thickness": (0.08, 0.2),
    "bottom_bevel": (0.03, 0.12),
    "handle_span": (0.3, 0.85),  # vertical distance between the handle's attachments / height
    "handle_center": (0.36, 0.64),  # height of the handle's middle / height
    "handle_reach": (0.32, 0.95),  # how far the handle sticks out of the wall
    "handle_ellipticity": (0.75, 1.4),  # vertical stretch of the handle ring
    "handle_radius": (0.05, 0.17),  # tube radius
    "handle_flatness": (0.6, 1.0),  # tube depth (Z) / tube height
}

#: The narrower ranges the shipped prior (models/priors) and model were made with: the prior instance keeps
#: their midpoints, so widening RANGES to more real objects leaves the prior unchanged.
PRIOR_RANGES = {
    "height": (1.6, 3.0),
    "taper": (0.85, 1.2),
    "handle_span": (0.4, 0.75),
    "handle_center": (0.42, 0.58),
    "handle_reach": (0.35, 0.75),
    "handle_ellipticity": (0.85, 1.25),
    "handle_radius": (0.07, 0.14),
}


def outer_radius(p: Mapping[str, float], y: np.ndarray) -> np.ndarray:
    """Outer wall radius at height ``y`` (bottom radius 1)."""
    h = p["height"]
    return 1.0 + (p["taper"] - 1.0) * y / h + p["bulge"] * np.sin(np.pi * y / h)


def cup_profile(p: Mapping[str, float], count: int) -> np.ndarray:
    """Return the (radius, height) profile of the cup: bottom, outer wall, rim, inner wall, cavity floor."""
    h, th, bev, bt = p["height"], p["thickness"], p["bottom_bevel"], p["base_thickness"]
    ang = np.linspace(-np.pi / 2, 0.0, 6)
    bevel = np.stack([1 - bev + bev * np.cos(ang), bev + bev * np.sin(ang)], axis=1)
    y_out = np.linspace(bev, h, 40)[1:]
    outer = np.stack([outer_radius(p, y_out), y_out], axis=1)
    r_top = outer_radius(p, np.array(h))
    rim = np.array([[r_top - 0.5 * th, h + 0.3 * th]])
    y_in = np.linspace(h, bt, 40)
    inner = np.stack([outer_radius(p, y_in) - th, y_in], axis=1)
    pts = np.concatenate([[[0.0, 0.0]], bevel, outer, rim, inner, [[0.0, bt]]])
    corners = [1, 1 + len(bevel) + len(outer) - 1, len(pts) - 2]
    return keep_corners(pts, count, corners)


def handle_geometry(p: Mapping[str, float]) -> dict[str, float]:
    """Solve the torus placement: centre (x, y), major radius, vertical stretch, tube radius."""
    h = p["height"]
    e, minor = p["handle_ellipticity"], p["handle_radius"]
    y_c = p["handle_center"] * h
    half_span = 0.5 * p["handle_span"] * h
    room = min(y_c - 0.1 * h, 0.92 * h - y_c)  # vertical room for the handle's half height
    if min(half_span, room - e * minor) <= minor:  # a thick tube on a short mug: thin it until it fits
        minor = room / (e + 2.0)
    half_span = min(half_span, room - e * minor)
    if half_span <= minor:
        raise ValueError("mug handle does not fit on the body; parameters out of range")
    r_c = float(outer_radius(p, np.array(y_c)))
    reach = p["handle_reach"]
    q = half_span / e
    a = min((q * q - reach * reach) / (2 * reach), 0.6 * r_c)
    major = reach + a
    return {"x": r_c - a, "y": y_c, "major": major, "stretch": e, "minor": minor}


def build_mug(p: Mapping[str, float], resolution: int) -> BuiltShape:
    """Build a closed mug mesh; parts: outside, inside, handle."""
    th = p["thickness"]
    cup = revolve_y(cup_profile(p, count=max(20, int(1.5 * resolution))), sections=resolution)
    g = handle_geometry(p)
    torus = trimesh.creation.torus(
        major_radius=g["major"],
        minor_radius=g["minor"],
        major_sections=resolution,
        minor_sections=max(8, resolution // 3),
    )
    torus.apply_transform(np.diag([1.0, g["stretch"], p["handle_flatness"], 1.0]))
    torus.apply_translation([g["x"], g["y"], 0.0])
    # Cut away everything inside the middle of the wall so the handle's ends end inside the wall.
    h = p["height"]
    ys = np.linspace(0.0, h, 24)
    cutter_profile = np.concatenate(
        [[[0.0, -1.0], [outer_radius(p, np.array(0.0)) - 0.5 * th, -1.0]],
         np.stack([outer_radius(p, ys) - 0.5 * th, ys], axis=1),
         [[outer_radius(p, np.array(h)) - 0.5 * th, h + 1.0], [0.0, h + 1.0]]]
    )
    cutter = revolve_y(cutter_profile, sections=resolution)
    handle = difference(torus, cutter)
    mesh, parts = union_labelled([cup, handle])
    parts = parts * 2  # 0 = cup, 2 = handle
    c = mesh.triangles_center
    radius = np.linalg.norm(c[:, [0, 2]], axis=1)
    inside = (parts == 0) & (radius < outer_radius(p, c[:, 1]) - 0.5 * th) & (c[:, 1] > 0.5 * p["base_thickness"])
    parts[inside] = 1
    return BuiltShape(mesh, parts.astype(np.int32), ("outside", "inside", "handle"))


MUG = CategoryShape(
    name="mug",
    ranges=RANGES,
    metric=MetricRange(axis=1, low=0.07, high=0.13, meaning="height"),
    limits=(MetricRange(axis=2, low=0.05, high=0.125, meaning="cup diameter"),
            MetricRange(axis=0, low=0.07, high=0.18, meaning="width with the handle")),
    prior={k: 0.5 * (lo + hi) for k, (lo, hi) in PRIOR_RANGES.items()},
    build=build_mug,
    description="+Y up out of the opening, +X towards the handle; mirror symmetry z -> -z.",
)
