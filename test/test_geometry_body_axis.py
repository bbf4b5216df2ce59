"""The vertical axis of an upright solid of revolution fitted to the side of it a camera sees."""

import numpy as np

from selfpose_ros.geometry.body_axis import centre_on_axis, fit_body_axis, horizontal_basis

UP = np.array([0.0, -1.0, 0.0])  # camera y points down


def _tapered_side(n=3000, seed=0, noise=0.001):
    """The camera-facing half of a can-like body: axis through (0.02, ., 0.6), radius 4 cm at the bottom, 5 cm at
    the top, 10 cm tall (heights along UP from -0.05 to 0.05)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(np.pi, 2 * np.pi, n)  # the near side (smaller z)
    h = rng.uniform(-0.05, 0.05, n)
    r = 0.045 + 0.1 * h
    pts = np.stack([0.02 + r * np.cos(a), -h, 0.6 + r * np.sin(a)], 1)
    return pts + rng.normal(scale=noise, size=pts.shape)


def test_the_axis_of_a_tapered_body_is_found_from_its_near_side_and_a_centre_moves_onto_it():
    pts = _tapered_side()
    e1, e2 = horizontal_basis(UP)
    truth = np.array([0.02, 0.0, 0.6])
    axis = fit_body_axis(np.stack((pts @ e1, pts @ e2), 1), pts @ UP, np.array([truth @ e1, truth @ e2]) + 0.015,
                         0.045, -0.05, 0.05)
    assert np.linalg.norm(axis.centre - [truth @ e1, truth @ e2]) < 0.002
    assert axis.radii[0] < axis.radii[-1] and abs(axis.radii[0] - 0.042) < 0.004 and abs(axis.radii[-1] - 0.048) < 0.004
    off = truth + np.array([0.012, 0.03, -0.01])  # a fit's centre beside the axis (and 3 cm lower)
    moved = centre_on_axis(pts, off, UP, 0.045, 0.1)
    assert np.linalg.norm((moved - truth)[[0, 2]]) < 0.002 and moved[1] == off[1]  # moved across up only


def test_centre_on_axis_keeps_the_centre_when_the_fit_fails_or_would_move_it_far():
    pts = _tapered_side()
    c = np.array([0.02, 0.0, 0.6])
    assert np.array_equal(centre_on_axis(pts[:5], c, UP, 0.045, 0.1), c)  # too few points
    far = c + np.array([0.2, 0.0, 0.0])
    assert np.array_equal(centre_on_axis(pts, far, UP, 0.045, 0.1), far)  # its wall is nowhere near
