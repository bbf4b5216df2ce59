"""Snapping fitted rotations to gravity: exact on upright poses, keeps yaw, handles opposite vectors."""

import numpy as np

from selfpose_ros.geometry.rotations import rotation_about_y_np
from selfpose_ros.geometry.upright import rotation_between, snap_upright, tilt_deg


def _random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    return q * np.sign(np.linalg.det(q))[:, None, None]


def test_rotation_between_maps_a_onto_b_including_opposite_and_equal_vectors():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 3))
    b = rng.normal(size=(200, 3))
    b[0], b[1] = -a[0], a[1]
    R = rotation_between(a, b)
    an, bn = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", R, an), bn, atol=1e-9)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    np.testing.assert_allclose(R[1], np.eye(3), atol=1e-9)


def test_snap_upright_aligns_y_with_up_and_keeps_the_yaw_of_a_tilted_pose():
    rng = np.random.default_rng(1)
    base = _random_rotations(50, rng)  # camera <- world(upright) frames
    up = base[:, :, 1]  # world +Y seen from the camera
    yaw = rotation_about_y_np(rng.uniform(-np.pi, np.pi, 50))
    truth = base @ yaw  # upright objects with a yaw
    tilt_axis = np.cross(up, rng.normal(size=(50, 3)))
    tilt = rotation_between(up, up + 0.2 * tilt_axis / np.linalg.norm(tilt_axis, axis=1, keepdims=True))
    tilted = tilt @ truth
    assert (tilt_deg(tilted, up) > 5).all()
    snapped = snap_upright(tilted, up)
    np.testing.assert_allclose(tilt_deg(snapped, up), 0.0, atol=1e-5)
    np.testing.assert_allclose(snapped, truth, atol=1e-9)  # the tilt is removed, the yaw kept exactly
    np.testing.assert_allclose(snap_upright(truth, up), truth, atol=1e-9)


def test_snap_if_upright_only_snaps_near_upright_fits_with_known_gravity():
    from selfpose_ros.inference.estimator import snap_if_upright

    up = np.array([0.0, -1.0, 0.0])  # camera looking level: world up is image -y
    base = np.diag([1.0, -1.0, -1.0])  # canonical +Y along up
    small = rotation_between(up, up + [0.2, 0.0, 0.0]) @ base  # ~11 degrees of tilt
    np.testing.assert_allclose(snap_if_upright(small, up, 30.0), base, atol=1e-9)
    np.testing.assert_allclose(snap_if_upright(small, None, 30.0), small)  # gravity unknown: unchanged
    np.testing.assert_allclose(snap_if_upright(small, up, 0.0), small)  # switched off
    lying = rotation_between(up, [1.0, 0.0, 0.0]) @ base  # on its side: 90 degrees, left alone
    np.testing.assert_allclose(snap_if_upright(lying, up, 30.0), lying)
