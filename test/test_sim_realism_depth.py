"""Depth artefacts of the realistic sensor: each effect does what it imitates and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from selfpose_ros.sim.depth_artefacts import (
    DepthCalibration,
    SurfaceCues,
    after_sensor,
    before_sensor,
    discontinuities,
    draw_calibration,
    flying_pixels,
    normal_quantile,
    projector_shadow,
    shift_image,
)
from selfpose_ros.sim.noise_fields import low_frequency_field, smooth_normal_field
from selfpose_ros.sim.realism import DepthArtefacts, realism_preset

FX = 400.0


def step_scene() -> np.ndarray:
    """A wall at 2 m with a box at 1 m in the middle (columns 40-79, rows 20-59) and no surface in row 0."""
    depth = np.full((80, 120), 2.0, np.float32)
    depth[20:60, 40:80] = 1.0
    depth[0] = 0.0
    return depth


def no_cues(shape: tuple[int, int]) -> SurfaceCues:
    return SurfaceCues(np.zeros(shape, np.float32), np.zeros(shape, np.float32), np.zeros(shape, bool))


def test_flying_pixels_lie_between_fore_and_background() -> None:
    depth = step_scene()
    out, changed = flying_pixels(depth, 1.0, np.random.default_rng(0))
    edges, _, _ = discontinuities(depth)
    assert changed.sum() > 100 and not np.any(changed & ~edges)  # only at discontinuities
    box_edge = changed & (depth > 0.5)
    box_edge[:2] = False  # pixels next to the no-surface row mix with nothing
    assert np.all((out[box_edge] > 1.0 + 0.05) & (out[box_edge] < 2.0 - 0.05))  # strictly in between
    np.testing.assert_array_equal(out[~changed], depth[~changed])
    assert np.all(out[depth == 0] == 0)  # no surface stays no surface
    none, none_changed = flying_pixels(depth, 0.0, np.random.default_rng(0))
    assert not none_changed.any() and np.array_equal(none, depth)


def test_scale_bias_and_correlated_noise() -> None:
    depth = step_scene()
    calib = DepthCalibration(scale=1.01, bias=0.002)
    out = before_sensor(depth, DepthArtefacts(), calib, np.random.default_rng(0))
    np.testing.assert_allclose(out[depth > 0], depth[depth > 0] * 1.01 + 0.002, rtol=1e-6)
    assert np.all(out[depth == 0] == 0)
    wall = np.full((240, 320), 2.0, np.float32)
    noisy = before_sensor(wall, DepthArtefacts(correlated_noise=0.002), DepthCalibration(), np.random.default_rng(1))
    err = noisy - wall
    assert 0.003 < err.std() < 0.02  # 2 mm at 1 m grows with z^2: ~8 mm at 2 m
    # Low frequency: neighbouring pixels are almost the same; far-apart ones are not.
    assert np.corrcoef(err[:, :-1].ravel(), err[:, 1:].ravel())[0, 1] > 0.99
    assert abs(np.corrcoef(err[:, :80].ravel(), err[:, 240:].ravel())[0, 1]) < 0.9


def test_projector_shadow_falls_left_of_a_nearer_surface_with_the_right_width() -> None:
    depth = step_scene()
    shadow = projector_shadow(depth, FX, 0.05)
    width = FX * 0.05 * (1 / 1.0 - 1 / 2.0)  # disparity difference: 10 px
    row = shadow[40]
    cols = np.flatnonzero(row)
    assert cols.size and cols.max() < 40 and abs(cols.size - width) <= 1  # just left of the box
    assert not shadow[:, 40:].any() and not shadow[5:15].any()  # nothing on the box, right of it, or above
    assert not projector_shadow(np.full((10, 10), 1.5, np.float32), FX, 0.05).any()


def test_holes_only_remove_readings_on_dark_specular_and_transparent_surfaces() -> None:
    rng = np.random.default_rng(2)
    measured = (1.0 + 0.01 * rng.standard_normal((120, 160))).astype(np.float32)
    true = np.full_like(measured, 1.0)
    cues = no_cues(measured.shape)
    cues.darkness[:, :40] = 1.0
    cues.specular[:, 40:80] = 1.0
    cues.transparent[:, 80:120] = True
    config = DepthArtefacts(dark_holes=0.8, specular_holes=0.8, transparent_holes=0.8)
    out = after_sensor(measured, true, cues, config, DepthCalibration(), FX, np.random.default_rng(3))
    kept = np.isfinite(out)
    np.testing.assert_array_equal(out[kept], measured[kept])  # holes never change a reading
    for cols in (slice(0, 40), slice(40, 80), slice(80, 120)):
        assert 0.55 < 1 - kept[:, cols].mean() < 0.95
    assert kept[:, 120:].all()  # bright, matte, opaque: no holes
    blobs = ~kept[:, :40]
    assert (blobs[:, :-1] == blobs[:, 1:]).mean() > 0.8  # blobby, not salt-and-pepper


def test_registration_offset_shifts_depth() -> None:
    rng = np.random.default_rng(4)
    image = rng.random((30, 40), dtype=np.float32)
    out = shift_image(image, (3, -2), np.nan)
    np.testing.assert_array_equal(out[0:28, 3:40], image[2:30, 0:37])  # out[v, u] = in[v + 2, u - 3]
    assert np.isnan(out[:, :3]).all() and np.isnan(out[28:]).all()
    calib = DepthCalibration(shift=(3, -2))
    shifted = after_sensor(image, image, None, DepthArtefacts(registration_px=3.0), calib, FX, rng)
    np.testing.assert_array_equal(shifted, out)
    draws = [
        draw_calibration(DepthArtefacts(registration_px=4.0, scale_error=0.01), np.random.default_rng(k))
        for k in range(50)
    ]
    assert all(np.hypot(*d.shift) <= 4.5 for d in draws) and any(d.shift != (0, 0) for d in draws)
    assert draws[7] == draw_calibration(DepthArtefacts(registration_px=4.0, scale_error=0.01), np.random.default_rng(7))


def test_edge_band_dropout_stays_near_edges() -> None:
    depth = step_scene()
    config = DepthArtefacts(edge_band=3, edge_band_dropout=0.6)
    out = after_sensor(depth.copy(), depth, None, config, DepthCalibration(), FX, np.random.default_rng(5))
    lost = np.isnan(out)
    assert lost.sum() > 50
    ys, xs = np.nonzero(lost)
    near = [
        np.min(np.abs(np.array([39, 40, 79, 80]) - x)) <= 4 or np.min(np.abs(np.array([0, 1, 19, 20, 59, 60]) - y)) <= 4
        for y, x in zip(ys, xs, strict=True)
    ]
    assert all(near)


def test_noise_fields_are_seeded_and_calibrated() -> None:
    a = smooth_normal_field(np.random.default_rng(0), (200, 300), 8.0)
    np.testing.assert_array_equal(a, smooth_normal_field(np.random.default_rng(0), (200, 300), 8.0))
    assert 0.7 < a.std() < 1.2 and abs(a.mean()) < 0.2
    for p in (0.1, 0.3, 0.8):  # thresholding at the quantile loses each pixel with about that probability
        assert abs(np.mean(a < normal_quantile(p)) - p) < 0.1
    low = low_frequency_field(np.random.default_rng(2), (120, 160), 4)
    assert low.shape == (120, 160) and np.abs(np.diff(low, axis=1)).max() < 0.2


def test_presets_and_validation() -> None:
    assert not realism_preset("none").enabled
    assert realism_preset("default").depth.enabled and realism_preset("heavy").depth.enabled
    assert realism_preset("heavy").depth.registration_px > realism_preset("default").depth.registration_px
    with pytest.raises(ValueError, match="unknown realism level"):
        realism_preset("extreme")
    with pytest.raises(ValueError, match="probability"):
        DepthArtefacts(flying_pixels=1.5)
    with pytest.raises(ValueError, match=">= 0"):
        DepthArtefacts(bias=-0.1)
