"""Laptop: a base slab with keyboard, a lid with screen opened about a hinge along +X. Mirror-symmetric in X."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import trimesh

from selfpose_ros.shapes.instance import BuiltShape, CategoryShape, MetricRange
from selfpose_ros.shapes.mesh_ops import box, cylinder_x, union_labelled

#: Parameter ranges, lengths in base widths.
RANGES = {
    "depth": (0.58, 0.8),  # base depth / width: 16:9 to 3:2 screens
    "base_thickness": (0.012, 0.07),  # thin ultrabook to thick workstation
    "lid_thickness": (0.006, 0.03),
    "lid_angle_deg": (90.0, 145.0),  # opening angle between base and lid
    "lid_depth": (0.92, 1.0),  # lid depth / base depth
    "keyboard_width": (0.7, 0.92),
    "screen_margin": (0.02, 0.06),
}

#: The narrower ranges the shipped prior (models/priors) and model were made with: the prior instance keeps
#: their midpoints, so widening RANGES to more real objects leaves the prior unchanged.
PRIOR_RANGES = {
    "depth": (0.62, 0.76),
    "base_thickness": (0.015, 0.045),
    "lid_thickness": (0.008, 0.022),
    "lid_angle_deg": (95.0, 135.0),
    "keyboard_width": (0.75, 0.9),
}


def build_laptop(p: Mapping[str, float], resolution: int) -> BuiltShape:
    """Build a closed laptop mesh; parts: base, keyboard, lid, screen, hinge."""
    d, tb, tl = p["depth"], p["base_thickness"], p["lid_thickness"]
    edge = 3.2 / resolution  # box faces are subdivided so the mesh density follows the resolution
    base = box([1.0, tb, d], [0.0, 0.5 * tb, 0.0], max_edge=edge)
    kb_w, kb_d = p["keyboard_width"], 0.45 * d
    keyboard = box([kb_w, 0.004, kb_d], [0.0, tb + 0.001, -0.5 * d + 0.1 * d + 0.5 * kb_d], max_edge=edge)
    # The lid is built closed (lying on the base, hinge line at the back-top edge) and then opened.
    ld = p["lid_depth"] * d
    lid = box([1.0, tl, ld], [0.0, 0.5 * tl, 0.5 * ld], max_edge=edge)
    m = p["screen_margin"]
    screen = box([1.0 - 2 * m, 0.003, ld - 2 * m], [0.0, -0.0005, 0.5 * ld], max_edge=edge)
    hinge_r = 0.6 * max(tb, tl)
    open_lid = trimesh.transformations.rotation_matrix(-np.deg2rad(p["lid_angle_deg"]), [1.0, 0.0, 0.0])
    to_hinge = trimesh.transformations.translation_matrix([0.0, tb, -0.5 * d + hinge_r])
    for part in (lid, screen):
        part.apply_transform(to_hinge @ open_lid)
    hinge = cylinder_x(hinge_r, 0.96, [0.0, tb, -0.5 * d + hinge_r], sections=max(8, resolution // 3))
    parts = [base, keyboard, lid, screen, hinge]
    mesh, labels = union_labelled(parts)
    return BuiltShape(mesh, labels, ("base", "keyboard", "lid", "screen", "hinge"))


LAPTOP = CategoryShape(
    name="laptop",
    ranges=RANGES,
    metric=MetricRange(axis=0, low=0.28, high=0.38, meaning="width (hinge length)"),
    prior={k: 0.5 * (lo + hi) for k, (lo, hi) in PRIOR_RANGES.items()},
    build=build_laptop,
    description="+Y up from the base, +X along the hinge, +Z from the hinge towards the front; mirror x -> -x.",
)
