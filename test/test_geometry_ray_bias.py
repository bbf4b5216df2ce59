"""The along-ray offset of static objects' estimates, fitted through known camera poses."""

from __future__ import annotations

import numpy as np
import pytest

from selfpose_ros.geometry.ray_bias import fit_ray_bias, pull_along_rays, world_rays


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """world <- camera optical frame (z forward, x right, y down) for a camera at ``eye`` looking at ``target``."""
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def orbit(span_deg: float, n: int, radius: float = 0.8, height: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Camera poses (R world <- camera, position) on an arc of ``span_deg`` around the origin."""
    poses = []
    for a in np.radians(np.linspace(0.0, span_deg, n)):
        eye = np.array([radius * np.cos(a), radius * np.sin(a), height])
        poses.append((look_at(eye, np.zeros(3)), eye))
    return poses


def observe(poses, centres: np.ndarray, delta: float, noise: float, seed: int = 0):
    """(R, p, t, track) of every object seen from every pose, its estimate ``delta`` along the ray plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for R, p in poses:
        for k, m in enumerate(centres):
            t_true = R.T @ (m - p)
            t = t_true + delta * t_true / np.linalg.norm(t_true) + rng.normal(0.0, noise, 3)
            rows.append((R, p, t, k))
    R, p, t, track = zip(*rows)
    return np.array(R), np.array(p), np.array(t), np.array(track)


CENTRES = np.array([[0.0, 0.0, 0.05], [0.1, -0.08, 0.04], [-0.07, 0.1, 0.06]])


@pytest.mark.parametrize("delta", [-0.02, 0.0, 0.015, 0.03])
def test_an_orbit_recovers_the_offset(delta: float) -> None:
    fit = fit_ray_bias(*observe(orbit(90.0, 30), CENTRES, delta, 0.003), prior_std=0.05)
    assert fit is not None
    assert fit.delta == pytest.approx(delta, abs=0.002)
    assert fit.std < 0.002
    assert fit.n == 90


def test_views_that_do_not_turn_leave_the_prior() -> None:
    """Rays that never turn say nothing: the posterior stays at zero with the prior's std."""
    poses = [(orbit(0.0, 1)[0][0], orbit(0.0, 1)[0][1])] * 20
    fit = fit_ray_bias(*observe(poses, CENTRES, 0.03, 0.001), prior_std=0.02)
    assert abs(fit.delta) < 0.002
    assert fit.std == pytest.approx(0.02, rel=0.05)


def test_a_wider_orbit_knows_more() -> None:
    narrow = fit_ray_bias(*observe(orbit(15.0, 30), CENTRES, 0.02, 0.004), prior_std=0.05)
    wide = fit_ray_bias(*observe(orbit(90.0, 30), CENTRES, 0.02, 0.004), prior_std=0.05)
    assert wide.std < narrow.std / 3


def test_outlying_views_are_down_weighted() -> None:
    R, p, t, track = observe(orbit(90.0, 30), CENTRES, 0.02, 0.002)
    t[::10] += np.array([0.0, 0.0, 0.15])  # a tenth of the views wildly off
    fit = fit_ray_bias(R, p, t, track, prior_std=0.05)
    assert fit.delta == pytest.approx(0.02, abs=0.004)


def test_objects_seen_once_give_nothing() -> None:
    R, p, t, _ = observe(orbit(90.0, 5), CENTRES, 0.02, 0.0)
    assert fit_ray_bias(R, p, t, np.arange(len(t)), prior_std=0.05) is None


def test_pulling_along_rays_undoes_the_offset() -> None:
    t = np.array([[0.1, -0.05, 0.8], [0.0, 0.2, 1.2]])
    moved = t + 0.03 * t / np.linalg.norm(t, axis=1, keepdims=True)
    np.testing.assert_allclose(pull_along_rays(moved, 0.03), t, atol=1e-12)
    np.testing.assert_allclose(world_rays(np.zeros((2, 3)), t), t / np.linalg.norm(t, axis=1, keepdims=True))
