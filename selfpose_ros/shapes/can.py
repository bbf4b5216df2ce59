"""Can: a revolved cylinder with a tapered neck, a raised rim, a recessed lid and a domed bottom. Symmetric about Y."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from selfpose_ros.shapes.instance import BuiltShape, CategoryShape, MetricRange
from selfpose_ros.shapes.mesh_ops import keep_corners, revolve_y

#: Parameter ranges, lengths in body radii. Height / diameter = height / 2: 0.35 (tuna tin) to 2.2 (slim can).
RANGES = {
    "height": (0.7, 4.4),  # tuna tin to tall slim drink can
    "neck_taper": (0.78, 0.98),  # top radius / body radius
    "neck_height": (0.05, 0.35),
    "bottom_taper": (0.8, 0.97),
    "bottom_height": (0.03, 0.15),
    "rim_width": (0.03, 0.07),
    "lid_recess": (0.03, 0.12),
    "bottom_dome": (0.0, 0.12),
}

#: The narrower ranges the shipped prior (models/priors) and model were made with: the prior instance keeps
#: their midpoints, so widening RANGES to more real objects leaves the prior unchanged.
PRIOR_RANGES = {
    "height": (0.8, 4.0),
}


def can_profile(p: Mapping[str, float], count: int) -> tuple[np.ndarray, float, float]:
    """Return the (radius, height) profile and the heights where the body ends (bottom, top)."""
    h, rt, rb = p["height"], p["neck_taper"], p["bottom_taper"]
    hn, hbot, rim, rec, dome = p["neck_height"], p["bottom_height"], p["rim_width"], p["lid_recess"], p["bottom_dome"]
    y_body_top = h - hn
    ring = 0.9 * rb
    s = np.linspace(0.0, 1.0, 8)
    base = np.stack([ring * s, dome * (1 - s**2)], axis=1)
    lower = np.stack([ring + (1 - ring) * np.sin(0.5 * np.pi * s[1:]), hbot * s[1:]], axis=1)
    neck = np.stack([1 - (1 - rt) * np.sin(0.5 * np.pi * s[1:]), y_body_top + hn * s[1:]], axis=1)
    lid = np.array([[rt - rim, h], [rt - rim, h - rec], [0.0, h - rec]])
    pts = np.concatenate([base, lower, [[1.0, y_body_top]], neck, lid])
    corners = [len(base) - 1, len(base) + len(lower) - 1, len(pts) - 4, len(pts) - 3, len(pts) - 2]
    return keep_corners(pts, count, corners), hbot, y_body_top


def build_can(p: Mapping[str, float], resolution: int) -> BuiltShape:
    """Build a closed can mesh; parts: label (cylindrical wall), metal (lid, rim, bottom)."""
    profile, y_lo, y_hi = can_profile(p, count=max(16, resolution))
    mesh = revolve_y(profile, sections=resolution)
    y = mesh.triangles_center[:, 1]
    metal = (y < y_lo + 1e-9) | (y > y_hi - 1e-9)
    return BuiltShape(mesh, metal.astype(np.int32), ("label", "metal"))


CAN = CategoryShape(
    name="can",
    ranges=RANGES,
    metric=MetricRange(axis=0, low=0.055, high=0.10, meaning="diameter"),
    limits=(MetricRange(axis=1, low=0.03, high=0.20, meaning="height"),),
    prior={k: 0.5 * (lo + hi) for k, (lo, hi) in PRIOR_RANGES.items()},
    build=build_can,
    description="+Y up through the lid; continuous symmetry about Y (+X arbitrary).",
)
