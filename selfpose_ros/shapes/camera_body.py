"""Camera: a body box, a lens barrel along +Z, a grip on the +X side, a top hump and a shutter button. No symmetry."""

from __future__ import annotations

from collections.abc import Mapping

from selfpose_ros.shapes.instance import BuiltShape, CategoryShape, MetricRange
from selfpose_ros.shapes.mesh_ops import box, cylinder_y, cylinder_z, union_labelled

#: Parameter ranges, lengths in body widths.
RANGES = {
    "height": (0.5, 0.8),  # slim compact to DSLR
    "depth": (0.22, 0.65),
    "lens_radius": (0.14, 0.36),
    "lens_length": (0.08, 1.2),  # pancake lens to long zoom
    "lens_offset": (-0.18, -0.06),  # lens axis x (away from the grip)
    "lens_ring": (0.85, 1.15),  # front ring radius / barrel radius
    "grip_width": (0.15, 0.28),
    "grip_depth": (0.04, 0.3),  # how far the grip stands out of the front face
    "grip_height": (0.75, 1.0),  # / body height
    "hump_height": (0.0, 0.25),  # / body height; below 0.04 there is no hump
    "hump_width": (0.25, 0.45),
    "button_radius": (0.03, 0.06),
}

#: The narrower ranges the shipped prior (models/priors) and model were made with: the prior instance keeps
#: their midpoints, so widening RANGES to more real objects leaves the prior unchanged.
PRIOR_RANGES = {
    "height": (0.55, 0.8),
    "depth": (0.28, 0.55),
    "lens_radius": (0.18, 0.32),
    "lens_length": (0.15, 0.8),
    "grip_depth": (0.08, 0.25),
    "hump_height": (0.0, 0.22),
}


def build_camera(p: Mapping[str, float], resolution: int) -> BuiltShape:
    """Build a closed camera mesh; parts: body, lens, ring, grip, hump, button."""
    h, d = p["height"], p["depth"]
    edge = 3.2 / resolution
    sections = max(12, resolution)
    parts = {"body": box([1.0, h, d], [0.0, 0.0, 0.0], max_edge=edge)}
    lens_r = min(p["lens_radius"], 0.42 * h)
    lens_x, lens_y = p["lens_offset"], -0.05 * h
    length = p["lens_length"]
    parts["lens"] = cylinder_z(lens_r, length + 0.02, [lens_x, lens_y, 0.5 * d + 0.5 * length - 0.01], sections)
    ring_len = 0.15 * length + 0.02
    parts["ring"] = cylinder_z(
        lens_r * p["lens_ring"], ring_len, [lens_x, lens_y, 0.5 * d + length - 0.5 * ring_len + 0.005], sections
    )
    gw, gh = p["grip_width"], p["grip_height"] * h
    gd = p["grip_depth"]
    parts["grip"] = box([gw, gh, gd + 0.02], [0.5 - 0.5 * gw, -0.5 * (h - gh), 0.5 * d + 0.5 * gd - 0.01], edge)
    if p["hump_height"] >= 0.04:
        hh = p["hump_height"] * h
        parts["hump"] = box([p["hump_width"], hh + 0.02, 0.7 * d], [lens_x, 0.5 * h + 0.5 * hh - 0.01, 0.0], edge)
    br = p["button_radius"]
    parts["button"] = cylinder_y(br, 0.05, [0.5 - 0.5 * gw, 0.5 * h + 0.015, 0.25 * d], max(8, sections // 2))
    names = tuple(parts)
    meshes = [parts[n] for n in names]
    mesh, labels = union_labelled(meshes)
    return BuiltShape(mesh, labels, names)


CAMERA = CategoryShape(
    name="camera",
    ranges=RANGES,
    metric=MetricRange(axis=0, low=0.10, high=0.15, meaning="body width"),
    prior={k: 0.5 * (lo + hi) for k, (lo, hi) in PRIOR_RANGES.items()},
    build=build_camera,
    description="+Y up, +Z along the lens (out of the front), +X towards the grip; no symmetry.",
)
