"""Geometry of multi-view fusion: the bounded voxel cloud, the free-space check and upright ICP."""

import numpy as np
import pytest

from selfpose_ros.geometry.free_space import nearest_depth, seen_through
from selfpose_ros.geometry.rotations import rotation_about_y_np
from selfpose_ros.geometry.upright_icp import axis_rotation, fit_upright, refine_upright_icp, upright_similarity
from selfpose_ros.geometry.voxel_cloud import VoxelCloud, voxel_downsample, voxel_keys
from selfpose_ros.shapes.priors import load_prior


def test_voxel_downsample_gives_centroids_and_counts():
    pts = np.array([[0.001, 0.001, 0.001], [0.003, 0.003, 0.003], [0.011, 0.0, 0.0]])
    centroids, counts = voxel_downsample(pts, 0.005)
    order = np.argsort(counts)
    np.testing.assert_allclose(centroids[order[1]], [0.002, 0.002, 0.002])
    np.testing.assert_allclose(centroids[order[0]], [0.011, 0.0, 0.0])
    assert sorted(counts.tolist()) == [1.0, 2.0]


def test_voxel_cloud_averages_repeated_views_without_growing():
    rng = np.random.default_rng(0)
    g = np.arange(0.0005, 0.05, 0.001)
    surface = np.stack(np.meshgrid(g, g, [0.0102]), -1).reshape(-1, 3)  # a 5 cm plate sampled every mm
    cloud = VoxelCloud(0.004, 5000)
    cloud.add(surface + rng.normal(0, 0.0005, surface.shape))
    first = len(cloud)
    for _ in range(20):  # the same surface seen again: noise only reaches the neighbouring voxel layers
        cloud.add(surface + rng.normal(0, 0.0005, surface.shape))
    assert len(cloud) <= 3 * first
    assert cloud.counts.sum() == 21 * len(surface)
    assert abs(np.median(cloud.points[:, 2]) - 0.0102) < 0.0005  # the plate's depth, averaged


def test_voxel_cloud_stays_within_its_bound_and_keeps_coverage():
    rng = np.random.default_rng(1)
    cloud = VoxelCloud(0.002, 400)
    for _ in range(50):  # a 30 cm box surface, far more voxels than the bound at 2 mm
        cloud.add(rng.uniform(-0.15, 0.15, (1000, 3)))
        assert len(cloud) <= 400 and cloud.nbytes <= 40 * 400
    assert cloud.voxel_size > 0.002
    pts = cloud.points
    assert pts.min(0).max() < -0.12 and pts.max(0).min() > 0.12  # still covers the whole box


def test_voxel_cloud_drops_non_finite_points_and_rejects_bad_settings():
    cloud = VoxelCloud(0.01, 100)
    assert cloud.add(np.array([[np.nan, 0, 0], [0.0, 0.0, np.inf]])) == 0 and len(cloud) == 0
    with pytest.raises(ValueError, match="voxel_size"):
        VoxelCloud(0.0, 10)
    with pytest.raises(ValueError, match="max_points"):
        VoxelCloud(0.01, 0)
    with pytest.raises(ValueError, match="beyond"):
        voxel_keys(np.array([[1e5, 0.0, 0.0]]), 0.004)


def _wall(depth_m: float, hole: tuple[slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray]:
    K = np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]])
    depth = np.full((80, 100), depth_m, np.float32)
    if hole is not None:
        depth[hole] = np.nan
    return depth, K


def test_points_in_front_of_a_farther_surface_are_seen_through():
    depth, K = _wall(1.0)
    pts = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.99], [0.0, 0.0, 1.5], [0.05, 0.0, 0.9]])
    checked, through = seen_through(pts, nearest_depth(depth), K, margin=0.02)
    assert checked.tolist() == [True, True, True, True]
    assert through.tolist() == [True, False, False, True]  # close to the wall or behind it: not contradicted


def test_no_reading_outside_the_image_or_behind_the_camera_checks_nothing():
    depth, K = _wall(1.0, hole=(slice(30, 50), slice(40, 60)))
    pts = np.array([[0.0, 0.0, 0.5], [5.0, 0.0, 0.5], [0.0, 0.0, -0.5]])
    checked, through = seen_through(pts, nearest_depth(depth, 5), K, margin=0.02)
    assert not checked.any() and not through.any()


def test_silhouette_points_are_not_contradicted_by_the_background_next_to_them():
    depth, K = _wall(2.0)
    depth[:, :50] = 0.5  # an object's surface covering the left half
    u = 50.5  # a point of the object on the first background column (a one-pixel pose error)
    pts = np.array([[(u - 50) * 0.5 / 100.0, 0.0, 0.5]])
    assert seen_through(pts, nearest_depth(depth, 5), K, 0.02)[1].tolist() == [False]
    assert seen_through(pts, nearest_depth(depth, 1), K, 0.02)[1].tolist() == [True]


def test_upright_similarity_is_exact_on_clean_pairs():
    rng = np.random.default_rng(2)
    model = rng.normal(size=(50, 3))
    up = np.array([0.0, 0.0, 1.0])
    R0 = axis_rotation(np.array([1.0, 0.0, 0.0]), np.pi / 2)  # canonical +Y -> up
    R_true = axis_rotation(up, 0.7) @ R0
    observed = 0.2 * model @ R_true.T + np.array([0.3, -0.1, 0.8])
    s, R, t = upright_similarity(model, observed, R0, up)
    assert s == pytest.approx(0.2) and np.allclose(R, R_true) and np.allclose(t, [0.3, -0.1, 0.8])


def test_upright_icp_recovers_yaw_scale_and_centre_and_never_tilts():
    prior = load_prior("camera")[0].astype(np.float64)
    up = np.array([0.0, 0.0, 1.0])
    R_up = axis_rotation(np.array([1.0, 0.0, 0.0]), np.pi / 2)
    R_true = axis_rotation(up, 1.0) @ R_up
    cloud = 0.15 * prior @ R_true.T + np.array([0.5, 0.2, 0.75])
    cloud += np.random.default_rng(3).normal(0, 0.001, cloud.shape)
    tilted = R_true @ rotation_about_y_np(0.25) @ axis_rotation(np.array([1.0, 0, 0]), 0.1)  # off in yaw and tilt
    s, R, t = refine_upright_icp(prior, cloud, 0.13, tilted, np.array([0.52, 0.19, 0.76]), up, 0.04, 40)
    s, R, t = refine_upright_icp(prior, cloud, s, R, t, up, 0.01, 40)
    assert abs(s / 0.15 - 1) < 0.02 and np.linalg.norm(t - [0.5, 0.2, 0.75]) < 0.003
    assert np.degrees(np.arccos(np.clip((np.trace(R.T @ R_true) - 1) / 2, -1, 1))) < 1.5
    np.testing.assert_allclose(R[:, 1], up, atol=1e-9)  # canonical +Y stays exactly up


def test_fit_upright_of_a_solid_of_revolution_needs_no_turns_and_merges_seeds_that_only_turn(monkeypatch):
    import selfpose_ros.geometry.upright_icp as upright_icp

    prior = load_prior("can")[0].astype(np.float64)
    up = np.array([0.0, -1.0, 0.0])  # camera frame: up is -y
    R_up = axis_rotation(np.array([1.0, 0.0, 0.0]), np.pi)  # canonical +Y -> -y
    centre = np.array([0.05, 0.1, 0.8])
    cloud = 0.12 * prior @ R_up.T + centre
    cloud = cloud[cloud[:, 2] < centre[2]]  # the side facing the camera
    cloud = cloud + np.random.default_rng(5).normal(0, 0.0005, cloud.shape)
    turn = 5 * 2.0 * np.pi / 26  # five of the prior's 26 facets: the turned prior is the same shape
    start = centre + [0.004, 0.0, 0.01]
    seeds = [(0.11, R_up, start), (0.11, axis_rotation(up, turn) @ R_up, start)]
    calls = []
    real = upright_icp.refine_upright_icp
    monkeypatch.setattr(upright_icp, "refine_upright_icp", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    plain = fit_upright(prior, cloud, seeds, up, 0.03, 0.008, 0.018, num_yaw=12, keep_best=2)
    n_plain = len(calls)
    calls.clear()
    revolution = fit_upright(prior, cloud, seeds, up, 0.03, 0.008, 0.018, num_yaw=12, keep_best=2, revolution=True)
    assert n_plain == 2 + 11 + 4  # two seeds, eleven turns, four fine refinements
    assert calls == [len(cloud[:: max(1, len(cloud) // 150)])] * 2 + [len(cloud)]  # no turns; the two seeds are one
    (_, (s, R, t)), (_, (s0, _, t0)) = revolution[0], plain[0]
    assert abs(s / 0.12 - 1) < 0.02 and np.linalg.norm(t - centre) < 0.003
    assert abs(s / s0 - 1) < 0.01 and np.linalg.norm(t - t0) < 0.002  # the same placement as the full search
    np.testing.assert_allclose(R[:, 1], up, atol=1e-9)


def test_fit_upright_ranks_by_the_share_seen_through_and_refines_only_the_best_coarse_results(monkeypatch):
    """Two seeds, the camera body and the same turned by 180 degrees about up: the points alone prefer the true
    one; a share of contradicted surface charged to it reverses the order, and the returned costs stay the
    points' own. ``fine_best`` 1 refines one coarse result on all points."""
    import selfpose_ros.geometry.upright_icp as upright_icp

    prior = load_prior("camera")[0].astype(np.float64)
    up = np.array([0.0, 0.0, 1.0])
    R_true = axis_rotation(np.array([1.0, 0.0, 0.0]), np.pi / 2)
    centre = np.array([0.1, 0.0, 0.8])
    cloud = 0.15 * prior @ R_true.T + centre
    seeds = [(0.15, R_true, centre), (0.15, axis_rotation(up, np.pi) @ R_true, centre)]

    def flipped(sim) -> bool:
        return float((sim[1] @ [1.0, 0.0, 0.0]) @ (R_true @ [1.0, 0.0, 0.0])) < 0.0

    plain = fit_upright(prior, cloud, seeds, up, 0.03, 0.008, 0.018)
    assert not flipped(plain[0][1]) and plain[0][0] < plain[1][0]
    charged = fit_upright(prior, cloud, seeds, up, 0.03, 0.008, 0.018,
                          model_outliers=lambda sim: 0.0 if flipped(sim) else 1.0)
    assert flipped(charged[0][1]) and charged[0][0] > charged[1][0]  # ranked by cost + share, costs unchanged
    calls = []
    real = upright_icp.refine_upright_icp
    monkeypatch.setattr(upright_icp, "refine_upright_icp", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    best = fit_upright(prior, cloud, seeds, up, 0.03, 0.008, 0.018, fine_best=1)
    assert calls.count(len(cloud)) == 1 and len(best) == 1 and not flipped(best[0][1])


def test_support_planes_go_to_the_fusion_frame_and_a_track_stands_on_their_median():
    from selfpose_ros.geometry.support_plane import Plane
    from selfpose_ros.geometry.transforms import rigid
    from selfpose_ros.inference.fusion import world_plane
    from selfpose_ros.inference.fusion_track import MAX_SUPPORTS, FusedTrack

    table_w = np.array([0.0, 0.0, 1.0, -0.75])  # the table top z = 0.75 m in the fusion frame
    track = FusedTrack(0, "mug", 1, VoxelCloud(0.004, 100), 0.1, np.eye(3), np.zeros(3), 0)
    assert track.support() is None
    rng = np.random.default_rng(0)
    for k in range(20):  # cameras all round the table: each sees the plane in its own frame
        R_wc = rotation_about_y_np(rng.uniform(-np.pi, np.pi)) @ np.diag([1.0, -1.0, -1.0])
        T_wc = rigid(R_wc, rng.uniform(-1.0, 1.0, 3) + [0.0, 0.0, 1.5])
        n_c = R_wc.T @ table_w[:3]
        plane_c = Plane(n_c, float(table_w[3] + table_w[:3] @ T_wc[:3, 3]))
        x_w = np.array([0.3, -0.2, 0.75])  # a point on the table: on the camera-frame plane too
        assert abs(plane_c.signed_distance(R_wc.T @ (x_w - T_wc[:3, 3]))) < 1e-12
        noisy = world_plane(plane_c, T_wc) + (np.r_[0, 0, 0, 0.5] if k in (10, 12) else 0.0)  # two wild views
        track.add_support(noisy)
        np.testing.assert_allclose(world_plane(plane_c, T_wc), table_w, atol=1e-12)
    assert len(track.supports) == MAX_SUPPORTS
    np.testing.assert_allclose(track.support(), table_w, atol=1e-12)


def test_a_tracks_handle_is_where_the_views_that_found_it_agree():
    """The fused handle direction is the single views' found handles' circular mean, outliers and up set aside:
    none before MIN_HANDLE_VOTES agree, and none after the track restarts."""
    from selfpose_ros.geometry.handle_azimuth import HANDLE_VOTE_DEG, MIN_HANDLE_VOTES
    from selfpose_ros.inference.fusion_track import MAX_VOTES, FusedTrack

    up = np.array([0.0, 0.0, 1.0])
    track = FusedTrack(0, "mug", 1, VoxelCloud(0.004, 100), 0.1, np.eye(3), np.zeros(3), 0)
    truth = np.radians(170.0)  # across the +-180 deg seam
    rng = np.random.default_rng(4)
    for _ in range(MIN_HANDLE_VOTES - 1):
        track.add_handle_vote([np.cos(truth), np.sin(truth), 0.3])
    assert track.voted_handle(up) is None and track.voted_handle(None) is None
    for a in truth + np.radians(rng.normal(0.0, 2.0, 20)):
        track.add_handle_vote([np.cos(a), np.sin(a), rng.normal(0.0, 0.2)])  # a vote need not be horizontal
    for a in (truth + np.pi, truth + np.radians(3 * HANDLE_VOTE_DEG)):  # a flipped view, a wild one
        track.add_handle_vote([np.cos(a), np.sin(a), 0.0])
    x = track.voted_handle(up)
    assert abs(x @ up) < 1e-12 and np.linalg.norm(x) == pytest.approx(1.0)
    assert np.degrees(np.arccos(np.clip(x @ [np.cos(truth), np.sin(truth), 0.0], -1, 1))) < 1.5
    for _ in range(2 * MAX_VOTES):
        track.add_handle_vote([1.0, 0.0, 0.0])
    assert len(track.handle_votes) == MAX_VOTES and track.voted_handle(up) == pytest.approx([1.0, 0.0, 0.0])
    track.restart(VoxelCloud(0.004, 100), 0.1, np.eye(3), np.zeros(3), 1)
    assert track.voted_handle(up) is None and track.handle is None
