"""Symmetry-aware rotation error and translation error."""

import math

import numpy as np
import pytest

from selfpose_ros.eval.errors import error_symmetry, rotation_error_deg, size_error_ratio, translation_error_cm
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np, rotation_about_y_np


def rot_x(deg):
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


R0 = quaternion_to_matrix_np(np.array([0.3, -0.1, 0.2, 0.9]))


def test_asymmetric_error_is_geodesic_angle():
    assert rotation_error_deg(R0 @ rot_x(17), R0) == pytest.approx(17.0, abs=1e-9)
    assert rotation_error_deg(R0 @ rotation_about_y_np(3.0), R0) == pytest.approx(math.degrees(3.0), abs=1e-9)
    batch = rotation_error_deg(np.stack([R0, R0 @ rot_x(90)]), np.stack([R0, R0]))
    np.testing.assert_allclose(batch, [0.0, 90.0], atol=1e-9)


def test_continuous_y_ignores_rotation_about_y():
    assert rotation_error_deg(R0 @ rotation_about_y_np(2.2), R0, "continuous_y") == pytest.approx(0, abs=1e-6)
    tilted = R0 @ rotation_about_y_np(1.0) @ rot_x(12)
    assert rotation_error_deg(tilted, R0, "continuous_y") == pytest.approx(12.0, abs=1e-9)


def test_flip_and_mirror():
    flipped = R0 @ rotation_about_y_np(math.pi)
    assert rotation_error_deg(flipped, R0, "flip_y") == pytest.approx(0.0, abs=1e-6)
    assert rotation_error_deg(flipped, R0, "none") == pytest.approx(180.0, abs=1e-6)
    assert rotation_error_deg(R0 @ rot_x(7), R0, "flip_y") == pytest.approx(7.0, abs=1e-9)
    # A reflection symmetry gives no proper-rotation ambiguity: same as "none".
    assert rotation_error_deg(flipped, R0, "mirror_z") == pytest.approx(180.0, abs=1e-6)


def test_category_symmetry_mapping():
    assert error_symmetry("bottle") == "continuous_y"
    assert error_symmetry("can") == "continuous_y" and error_symmetry("bowl") == "continuous_y"
    assert error_symmetry("mug") == "none" and error_symmetry("laptop") == "none"
    assert error_symmetry("camera") == "none" and error_symmetry("teapot") == "none"
    assert error_symmetry("mug", "flip_y") == "flip_y"
    with pytest.raises(ValueError, match="unknown symmetry"):
        error_symmetry("mug", "helical")


def test_translation_and_size_errors():
    assert translation_error_cm(np.array([0.03, 0.04, 1.0]), np.array([0.0, 0.0, 1.0])) == pytest.approx(5.0)
    assert size_error_ratio(np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0])) == 0.0
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        translation_error_cm(np.zeros(2), np.zeros(2))
