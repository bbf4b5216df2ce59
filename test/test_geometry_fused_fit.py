"""The fused-cloud prior fit: one function behind the trainer's pseudo-labels and the node's fusion tracks."""

import numpy as np
import pytest

from selfpose_ros.geometry.fused_fit import FusedFitOptions, ViewCoverage, fit_prior_to_fused_cloud
from selfpose_ros.geometry.prior_fit import fit_prior_to_points
from selfpose_ros.geometry.upright_icp import axis_rotation
from selfpose_ros.shapes.priors import load_prior
from selfpose_ros.shapes.size_ranges import similarity_scale_bounds
from selfpose_ros.train.pseudo_labels import _fit as pseudo_label_fit

UP = np.array([0.0, 0.0, 1.0])
R_UPRIGHT = axis_rotation(np.array([1.0, 0.0, 0.0]), np.pi / 2)  # canonical +Y -> map +Z


def _cloud(category: str, yaw: float, scale: float, t, n_keep: float = 1.0, seed: int = 0):
    """The prior's vertices placed upright in map with noise; keep the part facing +X when n_keep < 1."""
    prior = load_prior(category)[0].astype(np.float64)
    R = axis_rotation(UP, yaw) @ R_UPRIGHT
    pts = scale * prior @ R.T + np.asarray(t, dtype=np.float64)
    rng = np.random.default_rng(seed)
    pts = pts + rng.normal(0, 0.0008, pts.shape)
    if n_keep < 1.0:
        pts = pts[(pts[:, 0] - t[0]) > np.quantile(pts[:, 0] - t[0], 1 - n_keep)]
    return prior, pts, R


def _rot_err(R_a, R_b) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R_a.T @ R_b) - 1) / 2, -1, 1))))


def test_without_seeds_it_is_exactly_the_pseudo_label_search():
    prior, pts, _ = _cloud("mug", 0.4, 0.15, [0.3, 0.1, 0.8])
    pts = np.concatenate([pts, pts + 0.0005])  # more points than max_points: the subsample is drawn
    options = FusedFitOptions(max_points=500)
    bounds = similarity_scale_bounds("mug", np.ptp(prior, axis=0))
    got = fit_prior_to_fused_cloud(prior, pts, up=UP, options=options, rng=np.random.default_rng(7),
                                   scale_bounds=bounds)
    sub = pts[np.random.default_rng(7).choice(len(pts), 500, replace=False)]
    want = fit_prior_to_points(prior, sub, up_hint=UP, inlier_threshold=0.006, min_points=30, num_yaw=36,
                               keep_best=8, icp_iterations=40, scale_bounds=bounds)
    assert got.success and got.scale == want.scale
    np.testing.assert_array_equal(got.rotation, want.rotation)
    np.testing.assert_array_equal(got.translation, want.translation)
    # and the trainer's pseudo-labels call that same function (then apply the category size policy)
    lab, factor = pseudo_label_fit(prior, pts, UP, 0.006, 500, np.random.default_rng(7), "mug")
    assert lab.scale == want.scale and np.array_equal(lab.rotation, want.rotation) and 0.0 < factor <= 1.0


def test_a_seed_close_to_the_truth_is_refined_upright():
    prior, pts, R = _cloud("camera", 1.1, 0.14, [0.5, -0.2, 0.78])
    seed = (0.12, axis_rotation(UP, 0.25) @ R, np.array([0.51, -0.19, 0.79]))
    options = FusedFitOptions(max_points=800, upright_snap_deg=30.0)
    fit = fit_prior_to_fused_cloud(prior, pts, up=UP, options=options, seeds=[seed], search=False)
    assert fit.success and "upright" in fit.extras["source"]
    assert _rot_err(fit.rotation, R) < 2.0 and abs(fit.scale / 0.14 - 1) < 0.02
    assert np.linalg.norm(fit.translation - [0.5, -0.2, 0.78]) < 0.004
    assert fit.inlier_ratio > 0.8


def test_the_search_turns_a_wrong_seed_about_up():
    prior, pts, R = _cloud("camera", -0.6, 0.14, [0.0, 0.0, 0.8])
    seed = (0.14, axis_rotation(UP, np.radians(150)) @ R, np.array([0.0, 0.0, 0.8]))  # 150 deg off in yaw
    options = FusedFitOptions(max_points=800, num_yaw=24, keep_best=2, upright_snap_deg=30.0)
    fit = fit_prior_to_fused_cloud(prior, pts, up=UP, options=options, seeds=[seed], search=True)
    assert _rot_err(fit.rotation, R) < 3.0


def test_view_coverage_measures_surface_where_the_cameras_saw_nothing():
    import trimesh

    prior, pts, R = _cloud("bowl", 0.3, 0.2, [0.0, 0.0, 0.75], n_keep=0.5)  # half a bowl, seen from +X
    v, f = load_prior("bowl")
    normals = np.asarray(trimesh.Trimesh(v.astype(np.float64), f, process=False).vertex_normals)
    views = ViewCoverage(np.array([[1.0, 0.0, 0.6], [0.9, 0.4, 0.6]]) / np.linalg.norm([1.0, 0.0, 0.6]), normals)
    options = FusedFitOptions(max_points=800, upright_snap_deg=30.0)
    right = (0.2, R, np.array([0.0, 0.0, 0.75]))
    big = (0.3, R, np.array([-0.05, 0.0, 0.75]))  # ICP on the half cloud keeps it about 18 % too big

    def fit(seeds, with_views=True):
        return fit_prior_to_fused_cloud(prior, pts, up=UP, options=options, seeds=seeds, search=False,
                                        views=views if with_views else None)

    oversized, good = fit([big]), fit([right])
    assert oversized.scale > 1.1 * 0.2 and abs(good.scale / 0.2 - 1) < 0.02
    assert oversized.extras["visible_surface_distance_m"] > good.extras["visible_surface_distance_m"] + 0.002
    assert abs(fit([big, right]).scale / 0.2 - 1) < 0.02
    assert "visible_surface_distance_m" not in fit([right], with_views=False).extras


def test_bad_calls_are_named():
    prior, pts, _ = _cloud("can", 0.0, 0.1, [0, 0, 1])
    with pytest.raises(ValueError, match="needs at least one seed"):
        fit_prior_to_fused_cloud(prior, pts, search=False)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        fit_prior_to_fused_cloud(prior, pts[:, :2])
    few = fit_prior_to_fused_cloud(prior, pts[:10], up=UP, options=FusedFitOptions(upright_snap_deg=30),
                                   seeds=[(0.1, R_UPRIGHT, np.zeros(3))])
    assert not few.success and "too few points" in few.failure_reason
    with pytest.raises(ValueError, match="upright_snap_deg"):
        FusedFitOptions(upright_snap_deg=120)
