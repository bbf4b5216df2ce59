"""Support plane and up direction without TF: synthetic tabletop geometry and the real simulator's frames."""

import math

import numpy as np
import pytest

from selfpose_ros.geometry.support_plane import (
    IMAGE_UP,
    PlaneOptions,
    detect_planes,
    fit_plane_lsq,
    support_plane,
    support_plane_up,
)
from selfpose_ros.sim.scene import SceneConfig
from selfpose_ros.sim.simulator import SimConfig, SimScene

K = np.array([[200.0, 0.0, 80.0], [0.0, 200.0, 60.0], [0.0, 0.0, 1.0]])


def _angle(a, b):
    return math.degrees(math.acos(float(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def _camera_basis(pitch_deg):
    """Optical axes (x right, y down, z forward) of a camera pitched down by ``pitch_deg``, in a world with +Z up."""
    p = math.radians(pitch_deg)
    z = np.array([0.0, math.cos(p), -math.sin(p)])
    x = np.array([1.0, 0.0, 0.0])
    return np.stack([x, np.cross(z, x), z])  # rows: optical axes in world coordinates


def _render(planes, pitch_deg, cam_height=0.6, w=160, h=120, noise=0.0015, seed=0):
    """Depth (H, W) of world planes (n_world, d_world: n.x + d = 0) seen from a camera at (0, 0, cam_height)."""
    rows = _camera_basis(pitch_deg)
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    rays_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], -1)
    rays_world = rays_cam @ rows
    origin = np.array([0.0, 0.0, cam_height])
    depth = np.full((h, w), np.inf)
    for n, d in planes:
        denom = rays_world @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = -(origin @ n + d) / denom  # ray parameter = depth, since rays_cam has z = 1
        depth = np.where((lam > 0) & (lam < depth), lam, depth)
    depth[~np.isfinite(depth)] = np.nan
    depth += np.random.default_rng(seed).normal(scale=noise, size=depth.shape)
    return depth.astype(np.float32), rows


TABLE = (np.array([0.0, 0.0, 1.0]), 0.0)  # z = 0
WALL = (np.array([0.0, -1.0, 0.0]), 1.2)  # y = 1.2, facing the camera


@pytest.mark.parametrize("pitch", [20.0, 45.0, 80.0])
def test_table_normal_is_up_and_walls_are_never_the_support(pitch):
    depth, rows = _render([TABLE, WALL], pitch)
    up_true = rows @ np.array([0.0, 0.0, 1.0])  # world up in the optical frame
    up, info = support_plane_up(depth, K)
    assert up is not None and info.found and info.reason is None, info
    assert _angle(up, up_true) < 0.5
    assert info.plane.offset == pytest.approx(0.6, abs=0.01)  # the camera's height above the table
    assert _angle(up, IMAGE_UP) < 90.0  # oriented against image +y, towards the camera
    assert info.rmse_m < 0.005 and 0 < info.inlier_fraction <= 1 and info.num_planes >= 1
    d = info.as_dict()
    assert d["found"] and len(d["normal"]) == 3 and d["offset_m"] > 0


def test_masks_are_excluded_and_the_supported_plane_wins():
    # a box standing on the table: its top is a large plane parallel to the table, but it is masked
    depth, rows = _render([TABLE, WALL], 45.0)
    mask = np.zeros(depth.shape, bool)
    mask[40:90, 50:110] = True
    depth_obj = depth.copy()
    depth_obj[mask] = depth[mask] - 0.05
    up, info = support_plane_up(depth_obj, K, mask)
    assert up is not None and _angle(up, rows @ [0, 0, 1.0]) < 0.5
    # the stack form (N, H, W) is accepted too; a wrong shape is a clear error
    assert support_plane_up(depth_obj, K, mask[None])[0] is not None
    with pytest.raises(ValueError, match="masks must be"):
        support_plane(depth, K, np.zeros((3, 3), bool))


def test_gravity_hint_rejects_planes_far_from_it():
    depth, rows = _render([TABLE, WALL], 45.0)
    up_true = rows @ np.array([0.0, 0.0, 1.0])
    tilt = np.cross(up_true, [1.0, 0.0, 0.0])
    wrong = up_true * math.cos(math.radians(40)) + tilt / np.linalg.norm(tilt) * math.sin(math.radians(40))
    up, info = support_plane_up(depth, K, up_hint=wrong)
    assert up is None and "gravity hint" in info.reason
    up, _ = support_plane_up(depth, K, up_hint=up_true)
    assert up is not None and _angle(up, up_true) < 0.5


def test_no_depth_or_no_plane_gives_none_with_a_reason():
    nan = np.full((120, 160), np.nan, np.float32)
    up, info = support_plane_up(nan, K)
    assert up is None and not info.found and "depth points" in info.reason
    everything = np.ones(nan.shape, bool)
    depth, _ = _render([TABLE], 45.0)
    up, info = support_plane_up(depth, K, everything)
    assert up is None and "outside the instance masks" in info.reason
    # only a ceiling in view (normal facing image down): no support
    ceiling = (np.array([0.0, 0.0, -1.0]), 1.0)  # z = 1, the camera at 0.6 looking up at it
    depth, _ = _render([ceiling], -40.0)
    up, info = support_plane_up(depth, K)
    assert up is None and "image up" in info.reason


def test_least_squares_plane_and_sequential_detection():
    rng = np.random.default_rng(3)
    a = np.c_[rng.uniform(-1, 1, (500, 2)), np.full(500, 2.0)]  # z = 2, facing the camera
    b = np.c_[np.full(300, 0.5), rng.uniform(-1, 1, (300, 1)), rng.uniform(2.2, 3, (300, 1))]  # x = 0.5
    plane = fit_plane_lsq(a)
    assert np.allclose(plane.normal, [0, 0, -1]) and plane.offset == pytest.approx(2.0)
    assert np.allclose(plane.signed_distance([[0, 0, 0], [0, 0, 3]]), [2.0, -1.0])
    found = detect_planes(np.vstack((a, b)), PlaneOptions(min_inliers=100))
    assert len(found) == 2 and found[0][1][:500].all() and found[1][1][500:].all()


def test_simulated_tabletop_frames_without_gravity_give_up_within_3_degrees():
    """Acceptance: the support-plane up is within 3 deg of the truth on the simulator's tabletop frames."""
    errors = []
    for seed in range(8):
        cfg = SimConfig(
            width=320,
            height=240,
            num_frames=30,
            scene=SceneConfig(categories=("bottle", "bowl", "can", "mug"), max_objects=5),
        )
        sim = SimScene(cfg, seed=seed)
        for index in (0, 29):
            f = sim.render(index)
            labels = np.unique(f.segmentation)
            masks = np.stack([f.segmentation == v for v in labels[labels > 0]])
            up, info = support_plane_up(f.depth_m, f.K, masks)
            assert up is not None, (seed, index, info.reason)
            up_true = f.T_map_optical[2, :3]  # map +Z in the optical frame
            errors.append(_angle(up, up_true))
    assert max(errors) < 3.0, errors
