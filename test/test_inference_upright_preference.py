"""The upright preference both back-ends share: a standing object fitted tilted is refitted upright and the refit
kept when it explains the points nearly as well; an object that really lies tilted keeps its fit."""

import numpy as np
import pytest

from selfpose_ros.geometry.axis_scales import surface_samples
from selfpose_ros.geometry.pose_fit import PoseFit
from selfpose_ros.geometry.rotations import rotation_about_y_np
from selfpose_ros.inference.upright_preference import prefer_upright, truncated_cost
from selfpose_ros.shapes.priors import load_prior

UP = np.array([0.0, -1.0, 0.0])  # camera y points down
SCALE, THRESHOLD = 0.2, 0.01


@pytest.fixture(scope="module")
def bowl():
    vertices, faces = load_prior("bowl")
    samples, _ = surface_samples(vertices, faces, 3000, seed=0)
    return np.asarray(samples, np.float64)


def _upright(yaw: float = 0.3) -> np.ndarray:
    """Canonical +Y along UP, turned by ``yaw`` about it."""
    return np.diag([1.0, -1.0, -1.0]) @ rotation_about_y_np(yaw)


def _about_z(deg: float) -> np.ndarray:
    """A rotation by ``deg`` about the camera's optical axis."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _fit(R: np.ndarray, t: np.ndarray, scale: float = SCALE) -> PoseFit:
    return PoseFit(True, scale, R, t, np.ones(1, bool), 1.0, 1.0, 1)


def _seen(points: np.ndarray) -> np.ndarray:
    """The half of the points facing the camera (nearer than their centre)."""
    return points[points[:, 2] < np.median(points[:, 2])]


def test_a_standing_bowl_fitted_tilted_is_refitted_upright(bowl):
    R, t = _upright(), np.array([0.0, 0.05, 0.7])
    points = _seen(SCALE * bowl @ R.T + t)
    tilt = _about_z(60.0)  # 60 deg about the optical axis
    tilted = _fit(tilt @ R, t + np.array([0.01, -0.01, 0.0]), 0.7 * SCALE)
    out = prefer_upright(bowl, points, tilted, UP, THRESHOLD, (0.5 * SCALE, 2.0 * SCALE), revolution=True)
    assert out.extras.get("held_upright") is True
    assert np.degrees(np.arccos(np.clip(out.rotation[:, 1] @ UP, -1, 1))) < 2.0
    assert abs(out.scale - SCALE) < 0.1 * SCALE and np.linalg.norm(out.translation - t) < 0.01
    assert out.extras["mean_truncated_distance_m"] < truncated_cost(bowl, tilted, points, THRESHOLD)


def test_a_bowl_that_really_lies_tilted_keeps_its_fit_and_the_scale_bounds_hold(bowl):
    tilt = _about_z(70.0)
    R, t = tilt @ _upright(), np.array([0.0, 0.05, 0.7])
    points = _seen(SCALE * bowl @ R.T + t)
    fit = _fit(R, t)
    assert prefer_upright(bowl, points, fit, UP, THRESHOLD, (0.5 * SCALE, 2.0 * SCALE), revolution=True) is fit
    # a standing bowl whose upright refit would leave the category's scale range keeps the tilted fit too
    R2 = _upright()
    points2 = _seen(SCALE * bowl @ R2.T + t)
    tilted = _fit(tilt @ R2, t)
    assert prefer_upright(bowl, points2, tilted, UP, THRESHOLD, (2.0 * SCALE, 3.0 * SCALE), revolution=True) is tilted
