"""Bottle: a revolved profile (body with optional waist, shoulder, neck) and a wider cap. Symmetric about Y."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from selfpose_ros.shapes.instance import BuiltShape, CategoryShape, MetricRange
from selfpose_ros.shapes.mesh_ops import keep_corners, revolve_y

#: Parameter ranges, lengths in body radii.
RANGES = {
    "body_height": (1.8, 6.5),  # squat (height / diameter ~1.3) to slender (~5)
    "shoulder_height": (0.4, 1.6),
    "shoulder_linear": (0.0, 1.0),  # 0 = rounded (cosine) shoulder, 1 = conical
    "waist": (0.0, 0.12),  # relative narrowing at mid-body
    "bottom_bevel": (0.04, 0.15),
    "neck_radius": (0.28, 0.5),
    "neck_height": (0.2, 1.6),
    "cap_flare": (1.05, 1.3),  # cap radius / neck radius
    "cap_height": (0.2, 0.6),
}

#: The narrower ranges the shipped prior (models/priors) and model were made with: the prior instance keeps
#: their midpoints, so widening RANGES to more real objects leaves the prior unchanged.
PRIOR_RANGES = {
    "body_height": (2.5, 5.0),
}


def bottle_profile(p: Mapping[str, float], count: int) -> tuple[np.ndarray, float]:
    """Return the (radius, height) profile from the bottom centre to the cap top, and the cap's base height."""
    hb, bev, rn = p["body_height"], p["bottom_bevel"], p["neck_radius"]
    ang = np.linspace(-np.pi / 2, 0.0, 6)
    bevel = np.stack([1 - bev + bev * np.cos(ang), bev + bev * np.sin(ang)], axis=1)
    yb = np.linspace(bev, hb, 24)[1:]
    body = np.stack([1.0 - p["waist"] * np.sin(np.pi * (yb - bev) / (hb - bev)), yb], axis=1)
    s = np.linspace(0.0, 1.0, 16)[1:]
    g = (1 - p["shoulder_linear"]) * 0.5 * (1 + np.cos(np.pi * s)) + p["shoulder_linear"] * (1 - s)
    shoulder = np.stack([rn + (1 - rn) * g, hb + p["shoulder_height"] * s], axis=1)
    y_neck = hb + p["shoulder_height"] + p["neck_height"]
    rc = rn * p["cap_flare"]
    y_top = y_neck + p["cap_height"]
    head = np.array([[rn, y_neck], [rc, y_neck], [rc, y_top], [0.0, y_top]])
    pts = np.concatenate([[[0.0, 0.0]], bevel, body, shoulder, head])
    n_head = len(head)
    corners = [1, len(pts) - n_head - 1, len(pts) - n_head, len(pts) - n_head + 1, len(pts) - n_head + 2]
    return keep_corners(pts, count, corners), y_neck


def build_bottle(p: Mapping[str, float], resolution: int) -> BuiltShape:
    """Build a closed bottle mesh; parts: body, cap."""
    profile, y_neck = bottle_profile(p, count=max(12, resolution))
    mesh = revolve_y(profile, sections=resolution)
    parts = (mesh.triangles_center[:, 1] >= y_neck - 1e-9).astype(np.int32)
    return BuiltShape(mesh, parts, ("body", "cap"))


BOTTLE = CategoryShape(
    name="bottle",
    ranges=RANGES,
    metric=MetricRange(axis=1, low=0.16, high=0.32, meaning="height"),
    limits=(MetricRange(axis=0, low=0.035, high=0.13, meaning="diameter"),),
    prior={k: 0.5 * (lo + hi) for k, (lo, hi) in PRIOR_RANGES.items()},
    build=build_bottle,
    description="+Y up through the cap; continuous symmetry about Y (+X arbitrary).",
)
