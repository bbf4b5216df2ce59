"""ICP refinement (held or refined scale, movement bounds) and the depth-only prior-fit baseline."""

import math

import numpy as np
import pytest

from selfpose_ros.geometry.icp import RefinementBounds, refine_pose_icp
from selfpose_ros.geometry.pose_fit import PoseFit, failed_fit
from selfpose_ros.geometry.prior_fit import fit_prior_to_points, proper_signed_permutations
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np, relative_rotation_angle_np
from selfpose_ros.geometry.transforms import apply_similarity_np


def _box_surface(rng, n, lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    ext = hi - lo
    areas = np.array([ext[1] * ext[2], ext[0] * ext[2], ext[0] * ext[1]] * 2)
    face = rng.choice(6, n, p=areas / areas.sum())
    p = lo + rng.random((n, 3)) * ext
    axis, side = face % 3, face // 3
    p[np.arange(n), axis] = np.where(side == 0, lo[axis], hi[axis])
    return p


def mug_like(rng, n):
    """Surface points of a body plus a handle on +X: no rotation symmetry; canonical box diagonal 1."""
    body = _box_surface(rng, int(0.8 * n), [-0.3, -0.35, -0.3], [0.3, 0.35, 0.3])
    handle = _box_surface(rng, n - int(0.8 * n), [0.3, 0.0, -0.06], [0.5, 0.3, 0.06])
    p = np.vstack((body, handle))
    p -= 0.5 * (p.min(0) + p.max(0))
    return p / np.linalg.norm(p.max(0) - p.min(0))


def scene(seed, n=3000, noise=0.001):
    rng = np.random.default_rng(seed)
    R = quaternion_to_matrix_np(rng.normal(size=4))
    s = rng.uniform(0.15, 0.3)
    t = np.array([0.0, 0.0, 0.6]) + rng.normal(scale=0.05, size=3)
    observed = apply_similarity_np(s, R, t, mug_like(rng, n)) + rng.normal(scale=noise, size=(n, 3))
    return s, R, t, observed


def _errors(fit: PoseFit, s, R, t):
    return (math.degrees(float(relative_rotation_angle_np(fit.rotation, R))),
            float(np.linalg.norm(fit.translation - t)), abs(fit.scale / s - 1))


def _perturbed(s, R, t, deg=3.0, shift=0.008, scale=1.03):
    axis = np.array([1.0, 2.0, -1.0]) / math.sqrt(6)
    a = math.radians(deg)
    Kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    dR = np.eye(3) + math.sin(a) * Kx + (1 - math.cos(a)) * Kx @ Kx
    return PoseFit(True, s * scale, dR @ R, t + shift * np.array([0.6, -0.8, 0.0]), np.ones(10, bool), 0.8,
                   0.99, 10)


MODEL = mug_like(np.random.default_rng(100), 2000)


def test_icp_refines_pose_and_scale():
    s, R, t, obs = scene(1)
    init = _perturbed(s, R, t)
    out = refine_pose_icp(init, MODEL, obs, max_correspondence_distance=0.03, refine_scale=True,
                          max_iterations=60)
    assert out.refined and out.rejected_reason is None and out.fitness > 0.9
    rot, trans, scale = _errors(out.fit, s, R, t)
    assert rot < 0.5 and trans < 0.002 and scale < 0.01
    assert out.fit.inlier_ratio == init.inlier_ratio and "icp_rmse_m" in out.fit.extras


def test_icp_holds_scale_when_asked():
    s, R, t, obs = scene(2)
    init = _perturbed(s, R, t, scale=1.0)
    out = refine_pose_icp(init, MODEL, obs, max_correspondence_distance=0.03, refine_scale=False,
                          max_iterations=60)
    assert out.refined and out.fit.scale == pytest.approx(init.scale, rel=1e-9)
    rot, trans, _ = _errors(out.fit, s, R, t)
    assert rot < 0.5 and trans < 0.002


def test_icp_out_of_bounds_keeps_unrefined_pose():
    s, R, t, obs = scene(3)
    init = _perturbed(s, R, t)
    out = refine_pose_icp(init, MODEL, obs, max_correspondence_distance=0.03, refine_scale=True,
                          bounds=RefinementBounds(max_translation_m=0.001))
    assert not out.refined and out.fit is init and "translation moved" in out.rejected_reason
    assert out.delta_translation_m > 0.001
    far = refine_pose_icp(init, MODEL, obs + 1.0, max_correspondence_distance=0.01)
    assert not far.refined and far.fit is init and "no observed point" in far.rejected_reason
    with pytest.raises(ValueError, match="failed fit"):
        refine_pose_icp(failed_fit("x", 3, 3), MODEL, obs)


def test_prior_fit_full_cloud_without_hints():
    assert len(proper_signed_permutations()) == 24
    for seed in (4, 5):
        s, R, t, obs = scene(seed)
        fit = fit_prior_to_points(MODEL, obs)
        assert fit.success and fit.inlier_ratio > 0.9 and fit.num_correspondences == len(obs)
        rot, trans, scale = _errors(fit, s, R, t)
        assert rot < 2.0 and trans < 0.003 and scale < 0.02


def test_prior_fit_partial_view_with_up_hint_and_failures():
    s, R, t, obs = scene(6, n=6000)
    centre_dir = t / np.linalg.norm(t)
    visible = obs[(obs - t) @ centre_dir < 0.0]  # the half facing the camera
    visible = np.vstack((visible, np.full((5, 3), np.nan)))
    fit = fit_prior_to_points(MODEL, visible, up_hint=R[:, 1])
    assert fit.success and not fit.inlier_mask[-5:].any()
    rot, trans, scale = _errors(fit, s, R, t)
    assert rot < 3.0 and trans < 0.005 and scale < 0.03
    few = fit_prior_to_points(MODEL, obs[:5])
    assert not few.success and few.rotation is None and "too few points" in few.failure_reason
    with pytest.raises(ValueError, match="up_hint"):
        fit_prior_to_points(MODEL, obs, up_hint=np.zeros(3))


def test_icp_that_collapses_to_a_degenerate_transform_keeps_the_unrefined_pose(monkeypatch):
    import selfpose_ros.geometry.icp as icp

    s, R, t, obs = scene(4)
    init = _perturbed(s, R, t)
    collapsed = np.diag([0.0, 0.0, 0.0, 1.0])  # what Open3D's scaled ICP returned on a degenerate crop
    monkeypatch.setattr(icp, "icp_similarity", lambda *args, **kw: (collapsed, 0.9, 0.001))
    out = refine_pose_icp(init, MODEL, obs, max_correspondence_distance=0.05, refine_scale=True)
    assert not out.refined and out.fit is init
    assert "ICP result rejected" in out.rejected_reason and "determinant" in out.rejected_reason


def test_prior_fit_starts_compete_with_the_yaw_candidates():
    s, R, t, obs = scene(8)
    up = R[:, 1]
    # a single yaw candidate converges 171 degrees off on this scene; a start near the truth wins over it
    alone = fit_prior_to_points(MODEL, obs, up_hint=up, num_yaw=1)
    assert _errors(alone, s, R, t)[0] > 90.0
    both = fit_prior_to_points(MODEL, obs, up_hint=up, num_yaw=1, starts=[_perturbed(s, R, t, deg=8.0, shift=0.02)])
    assert both.success and _errors(both, s, R, t)[0] < 2.0
    # a start the yaw candidates beat is dropped: from a start 180 degrees off, the 12 yaws still win
    bad = PoseFit(True, s, R @ np.diag([-1.0, 1.0, -1.0]), t, np.ones(10, bool), 0.8, 0.99, 10)
    fit = fit_prior_to_points(MODEL, obs, up_hint=up, starts=[bad])
    assert _errors(fit, s, R, t)[0] < 2.0

