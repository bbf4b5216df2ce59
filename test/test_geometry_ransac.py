"""RANSAC-Umeyama: accuracy under heavy outliers, clean failures, NaN handling, early exit."""

import math

import numpy as np
import pytest
import torch

from selfpose_ros.geometry.ransac import ransac_umeyama, required_iterations, sample_confidence
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np, relative_rotation_angle_np


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors: one intra-op thread is fastest, and keeps a shared CPU usable."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_problem(seed: int, outlier_ratio: float, n: int = 2000, noise_m: float = 0.005):
    """Canonical points in a box of diagonal 1 -> object of diagonal 0.2-0.5 m, 0.7 m in front."""
    rng = np.random.default_rng(seed)
    R = quaternion_to_matrix_np(rng.normal(size=4))
    s = rng.uniform(0.2, 0.5)
    t = np.array([0.0, 0.0, 0.7]) + rng.normal(scale=0.1, size=3)
    src = rng.uniform(-0.5, 0.5, size=(n, 3)) / math.sqrt(3.0)
    dst = s * src @ R.T + t + rng.normal(scale=noise_m, size=(n, 3))
    k = int(round(outlier_ratio * n))
    lo, hi = dst.min(0) - 0.05, dst.max(0) + 0.05
    dst[:k] = rng.uniform(lo, hi, size=(k, 3))
    return src, dst, s, R, t, k


def _recovered(fit, R, t) -> bool:
    if not fit.success:
        return False
    angle = math.degrees(float(relative_rotation_angle_np(fit.rotation, R)))
    return angle < 1.0 and float(np.linalg.norm(fit.translation - t)) < 0.01


@pytest.mark.parametrize(("outlier_ratio", "min_ok"), [(0.5, 99), (0.7, 90)])
def test_recovers_pose_within_1deg_1cm(outlier_ratio, min_ok):
    ok = 0
    for seed in range(100):
        src, dst, _, R, t, _ = make_problem(seed, outlier_ratio)
        fit = ransac_umeyama(torch.from_numpy(src).float(), torch.from_numpy(dst).float(), 0.015, seed=seed)
        ok += _recovered(fit, R, t)
    assert ok >= min_ok


def test_result_fields_and_inlier_mask():
    src, dst, s, R, t, k = make_problem(7, 0.5)
    fit = ransac_umeyama(src, dst, 0.015, seed=0)  # numpy float64 input works too
    assert fit.success and fit.failure_reason is None
    assert fit.scale == pytest.approx(s, rel=0.01)
    assert fit.inlier_mask.shape == (2000,) and fit.num_correspondences == 2000
    # Nearly all true inliers are found and few outliers slip in.
    assert fit.inlier_mask[k:].mean() > 0.95 and fit.inlier_mask[:k].mean() < 0.02
    assert fit.inlier_ratio == pytest.approx(fit.inlier_mask.mean())
    assert 0.99 <= fit.confidence <= 1.0
    T = fit.matrix()
    np.testing.assert_allclose(T[:3, :3], fit.scale * fit.rotation)


def test_early_exit_on_confidence():
    src, dst, _, R, t, _ = make_problem(3, 0.0)
    fit = ransac_umeyama(src, dst, 0.015, seed=0, max_iterations=5000, first_chunk=32)
    assert _recovered(fit, R, t)
    assert fit.iterations == 32  # all inliers: one chunk reaches the confidence
    src, dst, _, R, t, _ = make_problem(3, 0.7)
    fit = ransac_umeyama(src, dst, 0.015, seed=0, max_iterations=5000)
    needed = required_iterations(0.3 * 0.95, 3, 0.999)
    assert fit.iterations < 5000 and fit.iterations < 2 * needed


def test_nan_points_are_dropped():
    src, dst, _, R, t, k = make_problem(11, 0.3)
    dst[k : k + 100] = np.nan
    src[k + 100 : k + 150, 1] = np.inf
    fit = ransac_umeyama(src, dst, 0.015, seed=1)
    assert _recovered(fit, R, t)
    assert fit.num_correspondences == 2000 - 150
    assert not fit.inlier_mask[k : k + 150].any()


def test_fails_cleanly_with_too_few_points_or_inliers():
    src, dst, *_ = make_problem(5, 0.0, n=5)
    fit = ransac_umeyama(src, dst, 0.01, seed=0)
    assert not fit.success and fit.rotation is None and fit.scale is None and fit.translation is None
    assert "too few usable" in fit.failure_reason
    with pytest.raises(ValueError, match="no pose"):
        fit.matrix()
    rng = np.random.default_rng(0)
    fit = ransac_umeyama(rng.normal(size=(300, 3)), rng.normal(size=(300, 3)), 0.001, seed=0, min_inliers=20)
    assert not fit.success and "inlier" in fit.failure_reason and fit.translation is None
    src, dst, *_ = make_problem(4, 0.85, n=100)  # 15 true inliers
    fit = ransac_umeyama(src, dst, 0.015, seed=0, min_inliers=30)
    assert not fit.success and fit.failure_reason.startswith("too few inliers: ")
    src, dst, *_ = make_problem(6, 0.8)
    fit = ransac_umeyama(src, dst, 0.015, seed=0, min_inlier_ratio=0.5)
    assert not fit.success and "min_inlier_ratio" in fit.failure_reason
    nan = np.full((50, 3), np.nan)
    assert "too few usable" in ransac_umeyama(nan, nan, 0.01).failure_reason


def test_weights_and_device_follow_input():
    src, dst, _, R, t, k = make_problem(8, 0.5)
    w = np.ones(2000)
    w[k : k + 500] = 0.2
    fit = ransac_umeyama(torch.from_numpy(src), torch.from_numpy(dst), 0.015, weights=torch.from_numpy(w), seed=2)
    assert _recovered(fit, R, t)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        fit = ransac_umeyama(torch.from_numpy(src).to(dev), torch.from_numpy(dst).to(dev), 0.015, seed=2)
        assert _recovered(fit, R, t)


def test_bad_arguments_raise():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="threshold"):
        ransac_umeyama(x, x, 0.0)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        ransac_umeyama(np.zeros((10, 2)), np.zeros((10, 2)), 0.01)
    with pytest.raises(ValueError, match="sample_size"):
        ransac_umeyama(x, x, 0.01, sample_size=2)
    with pytest.raises(ValueError, match="confidence"):
        ransac_umeyama(x, x, 0.01, confidence=1.0)
    with pytest.raises(ValueError, match="non-negative"):
        ransac_umeyama(x, x, 0.01, weights=-np.ones(10))


def test_iteration_formula():
    assert required_iterations(0.5, 3, 0.99) == pytest.approx(math.log(0.01) / math.log(1 - 0.125))
    assert required_iterations(1.0, 3, 0.99) == 0.0
    assert math.isinf(required_iterations(0.0, 3, 0.99))
    assert sample_confidence(0.5, 3, 35) == pytest.approx(1 - 0.875**35)
