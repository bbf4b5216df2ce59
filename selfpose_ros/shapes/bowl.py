"""Bowl: a revolved closed wall (outer curve, rounded rim, inner curve) on a foot ring. Symmetric about Y."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from selfpose_ros.shapes.instance import BuiltShape, CategoryShape, MetricRange
from selfpose_ros.shapes.mesh_ops import keep_corners, revolve_y

#: Parameter ranges, lengths in rim radii.
RANGES = {
    "depth": (0.2, 1.0),  # wall height above the foot: flat pasta bowl to deep mixing bowl
    "base_radius": (0.25, 0.65),  # radius where the outer wall meets the foot
    "wall_curve": (0.5, 2.0),  # exponent shaping the wall: < 1 steep sides, > 1 flared
    "thickness": (0.03, 0.07),
    "rim_flare": (0.0, 0.06),  # extra outward lip at the rim
    "foot_height": (0.02, 0.08),
    "foot_width": (0.03, 0.08),
}

#: The narrower ranges the shipped prior (models/priors) and model were made with: the prior instance keeps
#: their midpoints, so widening RANGES to more real objects leaves the prior unchanged.
PRIOR_RANGES = {
    "depth": (0.32, 0.7),
    "base_radius": (0.3, 0.55),
    "wall_curve": (0.6, 1.6),
}


def bowl_profile(p: Mapping[str, float], count: int) -> np.ndarray:
    """Return the (radius, height) profile from the bottom centre, round the rim, to the inner centre."""
    fh, fw, rb, th = p["foot_height"], p["foot_width"], p["base_radius"], p["thickness"]
    depth = p["depth"]
    t = np.linspace(0.0, 1.0, 32)
    shape = np.sin(0.5 * np.pi * t) ** p["wall_curve"]
    lift = 1.0 - np.cos(0.5 * np.pi * t)
    r_out = rb + (1.0 - rb) * shape + p["rim_flare"] * t**6
    y_out = fh + depth * lift
    # Inner wall: the outer wall shifted along its inward normal by the thickness.
    tang = np.gradient(np.stack([r_out, y_out], axis=1), axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    normal_in = np.stack([-tang[:, 1], tang[:, 0]], axis=1)
    normal_in[0] = (0.0, 1.0)
    inner = np.stack([r_out, y_out], axis=1) + th * normal_in
    y_rim = y_out[-1]
    inner[-1, 1] = y_rim
    rim = np.array([[r_out[-1] - 0.5 * th, y_rim + 0.35 * th]])
    recess = 0.5 * fh
    foot = np.array([[0.0, recess], [rb - fw, recess], [rb - fw, 0.0], [rb, 0.0]])
    inner_rev = inner[::-1]
    bottom_inner = np.array([[0.0, inner_rev[-1, 1]]])
    pts = np.concatenate([foot, np.stack([r_out, y_out], axis=1), rim, inner_rev, bottom_inner])
    corners = [1, 2, 3, len(foot) + len(t) - 1, len(foot) + len(t) + 1]
    return keep_corners(pts, count, corners)


def build_bowl(p: Mapping[str, float], resolution: int) -> BuiltShape:
    """Build a closed bowl mesh; parts: outside, inside."""
    profile = bowl_profile(p, count=max(16, int(1.25 * resolution)))
    mesh = revolve_y(profile, sections=resolution)
    normals_up = mesh.face_normals[:, 1]
    centre = mesh.triangles_center
    radius = np.linalg.norm(centre[:, [0, 2]], axis=1)
    # The inside faces point up/inward: normal has a positive Y part or points towards the axis.
    radial = np.einsum("ij,ij->i", mesh.face_normals[:, [0, 2]], centre[:, [0, 2]]) / np.maximum(radius, 1e-9)
    inside = (centre[:, 1] > p["foot_height"] + 1e-6) & ((radial < 0) | (normals_up > 0.99))
    return BuiltShape(mesh, inside.astype(np.int32), ("outside", "inside"))


BOWL = CategoryShape(
    name="bowl",
    ranges=RANGES,
    metric=MetricRange(axis=0, low=0.12, high=0.24, meaning="rim diameter"),
    prior={k: 0.5 * (lo + hi) for k, (lo, hi) in PRIOR_RANGES.items()},
    build=build_bowl,
    description="+Y up out of the opening; continuous symmetry about Y (+X arbitrary).",
)
