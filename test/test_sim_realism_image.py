"""Colour camera pipeline: exposure, white balance, vignetting, motion blur, noise and JPEG; all seeded."""

from __future__ import annotations

import numpy as np
import pytest

from selfpose_ros.geometry.transforms import rigid
from selfpose_ros.sim.image_pipeline import ColourCamera, blur_kernel, image_motion, tone_lut
from selfpose_ros.sim.realism import ImagePipeline


def test_tone_lut_exposure_and_white_balance() -> None:
    identity = tone_lut(1.0, (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(identity[:, 0, 0], np.arange(256))
    brighter = tone_lut(2.0, (1.0, 1.0, 1.0))
    assert np.all(brighter[5:200, 0, 1] > identity[5:200, 0, 1]) and np.all(brighter[:, 0, 1] >= identity[:, 0, 1])
    warm = tone_lut(1.0, (1.2, 1.0, 0.8))
    mid = 128
    assert warm[mid, 0, 0] > mid > warm[mid, 0, 2] and warm[mid, 0, 1] == mid


def test_motion_blur_smears_along_the_motion_only() -> None:
    assert blur_kernel(0.2, 0.1) is None
    k = blur_kernel(6.0, 0.0)
    assert k is not None and k.sum() == pytest.approx(1.0) and np.count_nonzero(k.sum(axis=1)) == 1
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20] = 255  # a vertical line
    cam = ColourCamera(ImagePipeline(exposure_time_s=(0.01, 0.01)), (40, 40), np.random.default_rng(0))
    out = cam.apply(img, (6.0, 0.0), np.random.default_rng(1))
    assert np.count_nonzero(out[20, :, 0]) >= 6 and out[20, 20, 0] < 255  # smeared sideways
    still = cam.apply(img, (0.0, 0.0), np.random.default_rng(1))
    np.testing.assert_array_equal(still, img)
    along = cam.apply(img, (0.0, 6.0), np.random.default_rng(1))  # motion along the line changes nothing
    np.testing.assert_array_equal(along[5:35], img[5:35])


def test_image_motion_of_a_sideways_camera_move() -> None:
    K = np.array([[400.0, 0, 160], [0, 400.0, 120], [0, 0, 1]])
    a, b = rigid(np.eye(3), np.zeros(3)), rigid(np.eye(3), np.array([0.01, 0.0, 0.0]))
    dx, dy = image_motion(K, a, b, np.array([0.0, 0.0, 1.0]))
    assert dx == pytest.approx(-4.0) and dy == pytest.approx(0.0)  # 1 cm right at 1 m: 4 px left


def test_noise_vignetting_and_jpeg() -> None:
    flat = np.full((96, 128, 3), 120, np.uint8)
    noisy_cam = ColourCamera(ImagePipeline(read_noise=2.0, shot_noise=4.0), flat.shape[:2], np.random.default_rng(0))
    noisy = noisy_cam.apply(flat, (0.0, 0.0), np.random.default_rng(1)).astype(float)
    expected = np.sqrt(2.0**2 + 4.0**2 * 120 / 255)
    assert abs(noisy.mean() - 120) < 0.3 and 0.8 * expected < noisy.std() < 1.2 * expected
    other = noisy_cam.apply(flat, (0.0, 0.0), np.random.default_rng(2)).astype(float)
    assert abs(np.corrcoef((noisy - 120).ravel(), (other - 120).ravel())[0, 1]) < 0.2  # frames differ
    vig = ColourCamera(ImagePipeline(vignetting=0.3), flat.shape[:2], np.random.default_rng(0))
    dark = vig.apply(flat, (0.0, 0.0), np.random.default_rng(1))
    assert dark[48, 64, 0] >= 119 and dark[0, 0, 0] < 0.75 * 120
    rng = np.random.default_rng(3)
    scene = np.clip(rng.normal(120, 40, (96, 128, 3)), 0, 255).astype(np.uint8)
    jpeg = ColourCamera(ImagePipeline(jpeg_quality=(60, 60)), flat.shape[:2], np.random.default_rng(0))
    out = jpeg.apply(scene, (0.0, 0.0), np.random.default_rng(1))
    assert out.shape == scene.shape and out.dtype == np.uint8 and not np.array_equal(out, scene)
    mse = np.mean((out.astype(float) - scene) ** 2)
    assert 0 < mse and 10 * np.log10(255**2 / mse) > 15  # artefacts, not a different image


def test_same_seed_same_image_and_validation() -> None:
    config = ImagePipeline(
        exposure_stops=0.5,
        white_balance=0.1,
        exposure_time_s=(0.01, 0.03),
        read_noise=2.0,
        shot_noise=3.0,
        jpeg_quality=(70, 90),
        vignetting=0.2,
    )
    img = np.random.default_rng(0).integers(0, 256, (60, 80, 3)).astype(np.uint8)
    a = ColourCamera(config, (60, 80), np.random.default_rng(5)).apply(img, (3.0, 1.0), np.random.default_rng(6))
    b = ColourCamera(config, (60, 80), np.random.default_rng(5)).apply(img, (3.0, 1.0), np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="does not match"):
        ColourCamera(config, (60, 80), np.random.default_rng(5)).apply(img[:10], (0, 0), np.random.default_rng(6))
    with pytest.raises(ValueError, match="jpeg_quality"):
        ImagePipeline(jpeg_quality=(50, 120))
