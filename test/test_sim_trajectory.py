"""Camera trajectories are smooth, look at the objects, stay above them; the TF chain follows REP 103/105."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from selfpose_ros.sim.scene import SceneConfig, generate_scene
from selfpose_ros.sim.simulator import SimConfig, SimScene
from selfpose_ros.sim.tf_tree import (
    CAMERA_LINK_FRAME,
    OPTICAL_FRAME,
    R_LINK_OPTICAL,
    base_poses,
    look_at,
    rigid,
    static_chain,
)
from selfpose_ros.sim.trajectory import TRAJECTORY_KINDS, ViewRequest, generate_trajectory

RATE = 15.0


def relative_motion(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation angle (degrees) and translation (metres) between neighbouring poses."""
    R = poses[:, :3, :3]
    rel = np.einsum("nji,njk->nik", R[:-1], R[1:])
    angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    return angle, np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)


@pytest.mark.parametrize("kind", TRAJECTORY_KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_trajectories_are_smooth_and_look_at_the_target(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = np.array([0.3, -0.2, 0.8])
    view = ViewRequest(target, region_radius=0.25, min_camera_z=0.95)
    poses = generate_trajectory(kind, rng, view, num_frames=150, rate_hz=RATE)
    assert poses.shape == (150, 4, 4)
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", poses[:, :3, :3], poses[:, :3, :3]),
                               np.broadcast_to(np.eye(3), (150, 3, 3)), atol=1e-9)
    assert np.allclose(np.linalg.det(poses[:, :3, :3]), 1.0)
    angle, step = relative_motion(poses)
    assert angle.max() < 3.0, f"{kind}: {angle.max():.2f} degrees between neighbouring frames"
    assert step.max() < 0.025, f"{kind}: {step.max() * 100:.1f} cm between neighbouring frames"
    # No jumps: the change of the step is small too (smooth velocity).
    velocity = np.diff(poses[:, :3, 3], axis=0)
    assert np.linalg.norm(np.diff(velocity, axis=0), axis=1).max() < 0.004
    # The optical axis points at the target within the small wander, the camera stays above the objects.
    to_target = target - poses[:, :3, 3]
    cos = np.einsum("ni,ni->n", poses[:, :3, 2], to_target) / np.linalg.norm(to_target, axis=1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 5.0
    assert poses[:, 2, 3].min() >= 0.95 - 1e-6
    distance = np.linalg.norm(to_target, axis=1)
    assert 0.3 < distance.min() and distance.max() < 1.25
    # The camera really moves (a few cm per second at least).
    assert np.linalg.norm(poses[-1, :3, 3] - poses[0, :3, 3]) > 0.05


def test_trajectory_rejects_bad_requests() -> None:
    view = ViewRequest(np.zeros(3), 0.2, 0.2)
    with pytest.raises(ValueError, match="unknown trajectory"):
        generate_trajectory("zigzag", np.random.default_rng(0), view, 10, RATE)
    with pytest.raises(ValueError, match="num_frames"):
        generate_trajectory("orbit", np.random.default_rng(0), view, 0, RATE)
    with pytest.raises(ValueError, match="above the objects"):
        generate_trajectory("orbit", np.random.default_rng(0), ViewRequest(np.zeros(3), 0.2, 5.0), 10, RATE)


def test_look_at_gives_optical_axes() -> None:
    T = look_at(np.array([0.0, 0.0, 1.0]), np.array([2.0, 0.0, 1.0]))
    np.testing.assert_allclose(T[:3, 2], [1, 0, 0], atol=1e-12)  # z forward
    np.testing.assert_allclose(T[:3, 0], [0, -1, 0], atol=1e-12)  # x right (map -y when looking along +x)
    np.testing.assert_allclose(T[:3, 1], [0, 0, -1], atol=1e-12)  # y down


def test_static_chain_is_the_standard_optical_rotation() -> None:
    mount, optical = static_chain(rigid(np.eye(3), np.array([0.05, 0.0, 0.08])))
    assert (mount.child, optical.parent, optical.child) == (CAMERA_LINK_FRAME, CAMERA_LINK_FRAME, OPTICAL_FRAME)
    # REP 103: camera_link -> optical is roll -90 deg, yaw -90 deg, quaternion (x, y, z, w) = (-0.5, 0.5, -0.5, 0.5).
    q = Rotation.from_matrix(R_LINK_OPTICAL).as_quat()
    np.testing.assert_allclose(q * np.sign(q[3]), [-0.5, 0.5, -0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(optical.matrix[:3, :3] @ [0, 0, 1], [1, 0, 0])  # optical z = link x


def test_tf_chain_reproduces_the_camera_pose() -> None:
    sim = SimScene(SimConfig(width=64, height=48, num_frames=30), seed=2)
    chain = sim.static_transforms
    for i in (0, 17, 29):
        T = sim.T_map_base[i] @ chain[0].matrix @ chain[1].matrix
        np.testing.assert_allclose(T, sim.T_map_optical[i], atol=1e-12)
    np.testing.assert_allclose(base_poses(sim.T_map_optical, chain), sim.T_map_base)
    # base_link stays upright-ish and moves as smoothly as the camera.
    angle, step = relative_motion(sim.T_map_base)
    assert angle.max() < 3.0 and step.max() < 0.03


@pytest.mark.parametrize("seed", range(8))
def test_scene_objects_rest_on_the_table_without_overlap(seed: int) -> None:
    scene = generate_scene(np.random.default_rng(seed), SceneConfig(min_objects=6, max_objects=6, resolution=16))
    assert len(scene.objects) == 6
    labels = [o.label for o in scene.objects]
    assert len(set(labels)) == 6
    for o in scene.objects:
        v = o.vertices_in_map()
        assert v[:, 2].min() == pytest.approx(scene.table_top_z, abs=1e-6)  # standing on the table top
        np.testing.assert_allclose(o.T_map_object[:3, :3] @ [0, 1, 0], [0, 0, 1], atol=1e-12)  # upright
    centres = np.array([o.T_map_object[:2, 3] for o in scene.objects])
    radii = np.array([0.5 * o.scale * np.hypot(o.shape.extents[0], o.shape.extents[2]) for o in scene.objects])
    for i in range(6):
        for j in range(i):
            assert np.linalg.norm(centres[i] - centres[j]) >= radii[i] + radii[j]
    table = next(p for p in scene.environment if p.name == "table")
    lo, hi = table.mesh.bounds
    assert (centres - radii[:, None] >= lo[:2]).all() and (centres + radii[:, None] <= hi[:2]).all()
    assert hi[2] == pytest.approx(scene.table_top_z)
