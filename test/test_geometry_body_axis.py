"""The vertical axis of an upright solid of revolution fitted to the side of it a camera sees."""

import numpy as np

from selfpose_ros.geometry.body_axis import (
    centre_on_axis,
    fit_body_axis,
    horizontal_basis,
    plausible_axis,
    points_axis_guess,
)

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


def test_centre_on_axis_keeps_the_centre_when_no_fit_holds():
    pts = _tapered_side()
    c = np.array([0.02, 0.0, 0.6])
    assert np.array_equal(centre_on_axis(pts[:5], c, UP, 0.045, 0.1), c)  # too few points for either start


def test_a_centre_far_off_the_body_comes_onto_its_axis_from_the_points_own_guess():
    """A fit too large and too deep (the learned back-end's cans at realism heavy: 1.6x wide, 5 cm behind) leaves
    its centre where the axis fit from it cannot reach; the guess from the points alone (their spread across the
    line of sight, the half circle's centroid depth) can."""
    pts = _tapered_side()
    truth = np.array([0.02, 0.0, 0.6])
    e1, e2 = horizontal_basis(UP)
    xy = np.stack((pts @ e1, pts @ e2), 1)
    guess, r = points_axis_guess(xy)
    assert abs(r - 0.045) < 0.006 and np.linalg.norm(guess - [truth @ e1, truth @ e2]) < 0.01
    for far in (truth + np.array([0.0, 0.0, 0.06]), truth + np.array([0.2, 0.0, 0.0])):
        moved = centre_on_axis(pts, far, UP, 0.08, 0.1)
        assert np.linalg.norm((moved - truth)[[0, 2]]) < 0.002 and moved[1] == far[1]


def _flat_wall(n=1500, seed=0):
    """A flat wall 8 cm wide and 10 cm tall facing the camera 0.6 m away (a mask bled onto a box behind a mug)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-0.04, 0.04, n), rng.uniform(-0.05, 0.05, n),
                     0.6 + rng.normal(scale=0.001, size=n)], 1)


def test_a_flat_wall_fits_a_circle_that_runs_away_and_is_not_believed():
    """A straight wall fits a circle of any size: the fit runs metres off (75 m wide mugs at realism heavy)."""
    pts = _flat_wall()
    e1, e2 = horizontal_basis(UP)
    start = np.array([0.0, 0.0, 0.64])
    c0 = np.array([start @ e1, start @ e2])
    axis = fit_body_axis(np.stack((pts @ e1, pts @ e2), 1), pts @ UP, c0, 0.04, -0.05, 0.05)
    assert axis is not None and np.max(axis.radii) > 1.0  # what the fit does on its own
    assert not plausible_axis(axis, c0, 0.04) and not plausible_axis(None, c0, 0.04)
    side = _tapered_side()
    truth = np.array([0.02, 0.0, 0.6])
    good = fit_body_axis(np.stack((side @ e1, side @ e2), 1), side @ UP, np.array([truth @ e1, truth @ e2]) + 0.015,
                         0.045, -0.05, 0.05)
    assert plausible_axis(good, np.array([truth @ e1, truth @ e2]) + 0.015, 0.045)
    assert np.array_equal(centre_on_axis(pts, start, UP, 0.04, 0.1), start)  # neither start's fit is believed
