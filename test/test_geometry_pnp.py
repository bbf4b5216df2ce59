"""PnP-RANSAC (OpenCV) on synthetic projections: accuracy with outliers, given scale, clean failures."""

import math

import cv2
import numpy as np
import pytest

from selfpose_ros.geometry.pnp import pnp_ransac
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np, relative_rotation_angle_np

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])


def make_views(seed: int, n: int = 200, outlier_ratio: float = 0.3, noise_px: float = 0.5):
    rng = np.random.default_rng(seed)
    R = quaternion_to_matrix_np(rng.normal(size=4))
    s = 0.3
    t = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(0.6, 1.0)])
    obj = rng.uniform(-0.5, 0.5, size=(n, 3)) / math.sqrt(3)
    rvec, _ = cv2.Rodrigues(R)
    img, _ = cv2.projectPoints(s * obj, rvec, t, K, None)
    img = img.reshape(-1, 2) + rng.normal(scale=noise_px, size=(n, 2))
    k = int(outlier_ratio * n)
    img[:k] = rng.uniform([0, 0], [640, 480], size=(k, 2))
    return obj, img, s, R, t, k


@pytest.mark.parametrize("seed", range(5))
def test_recovers_pose_with_outliers(seed):
    obj, img, s, R, t, k = make_views(seed)
    fit = pnp_ransac(obj, img, K, s, seed=seed)
    assert fit.success and fit.scale == s
    assert math.degrees(float(relative_rotation_angle_np(fit.rotation, R))) < 1.0
    assert np.linalg.norm(fit.translation - t) < 0.01
    assert fit.inlier_mask[k:].mean() > 0.95 and fit.inlier_mask[:k].mean() < 0.1
    assert fit.extras["reprojection_rmse_px"] < 2.0


def test_wrong_scale_gives_proportionally_wrong_translation():
    obj, img, s, R, t, _ = make_views(11, outlier_ratio=0.0)
    fit = pnp_ransac(obj, img, K, 2 * s, seed=0)
    assert fit.success
    np.testing.assert_allclose(fit.translation, 2 * t, rtol=0.02, atol=0.005)  # PnP has no scale


def test_nan_rows_dropped_and_failures_are_clean():
    obj, img, s, R, t, _ = make_views(12, outlier_ratio=0.0)
    img[:20] = np.nan
    fit = pnp_ransac(obj, img, K, s, seed=0)
    assert fit.success and not fit.inlier_mask[:20].any() and fit.num_correspondences == 180
    fit = pnp_ransac(obj[:4], img[40:44], K, s)
    assert not fit.success and fit.rotation is None and "too few usable" in fit.failure_reason
    rng = np.random.default_rng(0)
    fit = pnp_ransac(obj, rng.uniform(0, 640, size=(200, 2)), K, s, min_inliers=60, seed=0)
    assert not fit.success and fit.translation is None


def test_bad_inputs_raise():
    obj, img, s, *_ = make_views(0)
    with pytest.raises(ValueError, match="scale"):
        pnp_ransac(obj, img, K, 0.0)
    with pytest.raises(ValueError, match="image_points"):
        pnp_ransac(obj, img[:10], K, s)
    with pytest.raises(ValueError, match="camera_matrix"):
        pnp_ransac(obj, img, np.eye(4), s)
