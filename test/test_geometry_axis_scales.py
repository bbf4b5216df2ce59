"""Per-axis size: a shape model stretched along its canonical axes to fit depth, with the see-through,
support and upright terms."""

import math

import numpy as np
import pytest
import trimesh

from selfpose_ros.geometry.axis_scales import fit_axis_scales, surface_samples
from selfpose_ros.geometry.pinhole import backproject_np
from selfpose_ros.geometry.support_plane import Plane
from selfpose_ros.geometry.upright import tilt_deg

K = np.array([[220.0, 0.0, 80.0], [0.0, 220.0, 60.0], [0.0, 0.0, 1.0]])
H, W = 120, 160


def _cylinder(radius=0.3, height=0.8):
    mesh = trimesh.creation.cylinder(radius=radius, height=height, sections=48)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-math.pi / 2, [1, 0, 0]))  # axis along +Y
    return mesh


def _pose(elevation_deg):
    """Canonical -> camera rotation of an upright object seen from ``elevation_deg`` above the horizon."""
    e = math.radians(elevation_deg)
    up = np.array([0.0, -math.cos(e), -math.sin(e)])
    x = np.array([1.0, 0.0, 0.0])
    return np.stack([x, up, np.cross(x, up)], axis=1), up


def _render(mesh, a, R, t, background_m=0.35, n=200_000):
    """Depth (H, W) of the stretched mesh (z-buffer of dense surface samples) in front of a wall."""
    pts, normals = surface_samples(mesh.vertices, mesh.faces, n, seed=1)
    x = (pts * a) @ R.T + t
    nrm = (normals / a) @ R.T
    x = x[(nrm * x).sum(1) < 0]
    uv = np.round(x[:, :2] / x[:, 2:] * [K[0, 0], K[1, 1]] + K[:2, 2]).astype(int)
    ok = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
    depth = np.full((H, W), np.inf)
    np.minimum.at(depth, (uv[ok, 1], uv[ok, 0]), x[ok, 2])
    obj = np.isfinite(depth)
    depth[~obj] = t[2] + background_m
    return depth.astype(np.float32), obj


def test_surface_samples_lie_on_the_mesh_with_outward_normals():
    box = trimesh.creation.box(extents=(1.0, 2.0, 3.0))
    pts, normals = surface_samples(box.vertices, box.faces, 4000, seed=0)
    assert pts.shape == normals.shape == (4000, 3)
    on_face = np.isclose(np.abs(pts) / [0.5, 1.0, 1.5], 1.0, atol=1e-9).any(1)
    assert on_face.all() and np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert ((normals * pts).sum(1) > 0).all()  # outwards on a centred convex mesh
    # by area: the two 2x3 faces hold 12 / 22 of the surface
    assert np.isclose(np.abs(pts[:, 0]), 0.5).mean() == pytest.approx(12 / 22, abs=0.03)
    again, _ = surface_samples(box.vertices, box.faces, 4000, seed=0)
    assert np.array_equal(pts, again)
    with pytest.raises(ValueError, match="faces"):
        surface_samples(box.vertices, np.zeros((0, 3), int), 10)


def test_full_view_recovers_per_axis_scales_of_a_box():
    box = trimesh.creation.box(extents=(0.6, 0.6, 0.6))
    P, _ = surface_samples(box.vertices, box.faces, 3000, seed=2)
    a_true = np.array([0.08, 0.25, 0.15])
    R = np.eye(3)
    t = np.array([0.0, 0.0, 0.8])
    X = (P * a_true) @ R.T + t
    fit = fit_axis_scales(P, X, R, t + 0.005, scale=0.16, max_distance=0.01, prior_weight=0.01, iterations=40)
    assert np.allclose(fit.scales, a_true, rtol=0.03), fit.scales
    assert np.linalg.norm(fit.translation - t) < 0.003 and fit.fitness > 0.95


def test_revolution_shares_the_radius_and_the_max_axis_ratio_holds():
    cyl = _cylinder()
    P, _ = surface_samples(cyl.vertices, cyl.faces, 3000, seed=3)
    a_true = np.array([0.1, 0.3, 0.1])
    t = np.array([0.0, 0.0, 0.8])
    X = (P * a_true) + t
    fit = fit_axis_scales(P, X, np.eye(3), t, scale=0.18, revolution=True, prior_weight=0.01, iterations=40)
    assert fit.scales[0] == fit.scales[2] and np.allclose(fit.scales, a_true, rtol=0.03), fit.scales
    held = fit_axis_scales(P, X, np.eye(3), t, scale=0.18, max_axis_ratio=1.2)
    assert (held.scales <= 0.18 * 1.2 + 1e-12).all() and (held.scales >= 0.18 / 1.2 - 1e-12).all()
    bounded = fit_axis_scales(
        P, X, np.eye(3), t, scale=0.18, revolution=True, scale_bounds=(np.full(3, 0.15), np.full(3, 0.2))
    )
    assert (bounded.scales >= 0.15 - 1e-12).all() and (bounded.scales <= 0.2 + 1e-12).all()


def test_see_through_term_shrinks_a_model_too_tall_for_what_the_camera_sees():
    cyl = _cylinder()
    P, N = surface_samples(cyl.vertices, cyl.faces, 3000, seed=4)
    R, _ = _pose(30.0)
    t = np.array([0.0, 0.0, 0.6])
    a_true = np.array([0.1, 0.05, 0.1])  # a squat tin; the model starts twice as tall
    depth, obj = _render(cyl, a_true, R, t)
    X = backproject_np(depth, K, obj)
    free = ~obj
    start = 0.1
    one_way = fit_axis_scales(P, X, R, t, start, revolution=True)
    two_way = fit_axis_scales(P, X, R, t, start, revolution=True, model_normals=N, depth=depth, K=K, free=free)
    assert one_way.scales[1] > 1.3 * a_true[1]  # the data alone cannot see the excess height
    assert two_way.scales[1] == pytest.approx(a_true[1], rel=0.15), two_way.scales
    assert two_way.scales[0] == pytest.approx(a_true[0], rel=0.15)
    # without the free-space mask the model -> data term is off
    assert np.array_equal(
        fit_axis_scales(P, X, R, t, start, revolution=True, model_normals=N, depth=depth, K=K).scales, one_way.scales
    )


def test_support_plane_pulls_a_sunken_model_up_and_upright_is_kept():
    cyl = _cylinder()
    P, N = surface_samples(cyl.vertices, cyl.faces, 3000, seed=5)
    R, up = _pose(30.0)
    a_true = np.array([0.1, 0.1, 0.1])
    t = np.array([0.0, 0.0, 0.6])
    depth, obj = _render(cyl, a_true, R, t)
    X = backproject_np(depth, K, obj)
    bottom = t - up * 0.5 * 0.8 * a_true[1]  # the table touches the object's base
    plane = Plane(up, -float(up @ bottom))
    start = 0.14  # too tall: its lower part sinks into the table, where the camera cannot see it
    tilted = R @ np.array([[1, 0, 0], [0, math.cos(0.1), -math.sin(0.1)], [0, math.sin(0.1), math.cos(0.1)]])
    fit = fit_axis_scales(
        P, X, tilted, t, start, revolution=True, model_normals=N, depth=depth, K=K, free=~obj, plane=plane, upright=up
    )
    assert tilt_deg(fit.rotation, up) < 1e-4  # kept upright from the first step
    low = plane.signed_distance((P * fit.scales) @ fit.rotation.T + fit.translation).min()
    assert low > -0.005
    assert fit.scales[1] == pytest.approx(a_true[1], rel=0.12), fit.scales


def test_bad_inputs():
    P = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        fit_axis_scales(P[:, :2], P, np.eye(3), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="positive"):
        fit_axis_scales(P, P, np.eye(3), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="model_normals"):
        fit_axis_scales(
            P,
            P,
            np.eye(3),
            np.zeros(3),
            1.0,
            model_normals=P[:10],
            depth=np.ones((4, 4)),
            K=K,
            free=np.ones((4, 4), bool),
        )
    few = fit_axis_scales(P[:2], P, np.eye(3), np.zeros(3), 1.0)
    assert few.iterations == 0 and np.allclose(few.scales, 1.0)
