"""mesh_box: min/max box in general, a square cross-section for solids of revolution."""

import numpy as np
import pytest

from selfpose_ros.geometry.mesh_box import mesh_box


def test_plain_box_is_min_max_and_revolution_box_is_square():
    v = np.array([[-1.0, -2.0, -0.5], [1.0, 2.0, 0.5], [0.5, 0.0, 0.2]]) + [0.1, 0.2, 0.3]
    centre, ext = mesh_box(v)
    np.testing.assert_allclose(centre, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(ext, [2.0, 4.0, 1.0])
    centre_y, ext_y = mesh_box(v, "continuous_y")
    np.testing.assert_allclose(centre_y, centre)
    np.testing.assert_allclose(ext_y, [1.5, 4.0, 1.5])


def test_a_round_mesh_gives_the_same_box_at_every_yaw():
    a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    ring = np.stack((0.3 * np.cos(a), np.zeros_like(a), 0.3 * np.sin(a)), 1)
    v = np.concatenate((ring, ring + [0, 1.0, 0]))
    for yaw in (0.0, 0.3, 0.7):
        c, s = np.cos(yaw), np.sin(yaw)
        R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        _, ext = mesh_box(v @ R.T, "continuous_y")
        np.testing.assert_allclose(ext, [0.6, 1.0, 0.6], atol=2e-3)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="vertices"):
        mesh_box(np.zeros((0, 3)))
