"""Weighted Umeyama: exact recovery without noise, weights, reflection handling, input validation."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfpose_ros.geometry.rotations import random_rotations
from selfpose_ros.geometry.transforms import apply_similarity
from selfpose_ros.geometry.umeyama import umeyama


def _problem(gen, batch, n):
    s = torch.rand(batch, generator=gen, dtype=torch.float64) * 2 + 0.05
    R = random_rotations(batch, gen)
    t = torch.randn(batch, 3, generator=gen, dtype=torch.float64)
    src = torch.randn(batch, n, 3, generator=gen, dtype=torch.float64)
    return s, R, t, src, apply_similarity(s, R, t, src)


@pytest.mark.parametrize("method", ["svd", "horn"])
def test_recovers_random_similarities_exactly(method):
    gen = torch.Generator().manual_seed(0)
    s, R, t, src, dst = _problem(gen, 500, 12)
    s_e, R_e, t_e = umeyama(src, dst, method=method)
    torch.testing.assert_close(s_e, s, atol=1e-10, rtol=0)
    torch.testing.assert_close(R_e, R, atol=1e-10, rtol=0)
    torch.testing.assert_close(t_e, t, atol=1e-10, rtol=0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 40), method=st.sampled_from(["svd", "horn"]))
def test_property_exact_recovery_minimal_and_larger_sets(seed, n, method):
    gen = torch.Generator().manual_seed(seed)
    s, R, t, src, dst = _problem(gen, 1, n)
    s_e, R_e, t_e = umeyama(src, dst, method=method)
    assert torch.allclose(s_e, s, atol=1e-8) and torch.allclose(R_e, R, atol=1e-7)
    assert torch.allclose(t_e, t, atol=1e-7)


def test_weights_ignore_zero_weight_outliers_and_match_duplication():
    gen = torch.Generator().manual_seed(1)
    s, R, t, src, dst = _problem(gen, 4, 30)
    dst_bad = dst.clone()
    dst_bad[:, :10] += 5 * torch.randn(4, 10, 3, generator=gen, dtype=torch.float64)
    w = torch.ones(4, 30, dtype=torch.float64)
    w[:, :10] = 0
    s_e, R_e, t_e = umeyama(src, dst_bad, w)
    torch.testing.assert_close(s_e, s)
    torch.testing.assert_close(R_e, R)
    torch.testing.assert_close(t_e, t)
    # Integer weights equal duplicating points.
    noisy = dst + 0.05 * torch.randn(4, 30, 3, generator=gen, dtype=torch.float64)
    w2 = torch.ones(4, 30, dtype=torch.float64)
    w2[:, 0] = 3
    dup_src = torch.cat((src, src[:, :1], src[:, :1]), 1)
    dup_dst = torch.cat((noisy, noisy[:, :1], noisy[:, :1]), 1)
    for a, b in zip(umeyama(src, noisy, w2), umeyama(dup_src, dup_dst), strict=True):
        torch.testing.assert_close(a, b)


def test_reflection_gives_proper_rotation():
    gen = torch.Generator().manual_seed(2)
    src = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    dst = src * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)  # a mirror image
    for method in ("svd", "horn"):
        s, R, t = umeyama(src, dst, method=method)
        assert torch.det(R).item() == pytest.approx(1.0, abs=1e-12)
        torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=torch.float64))
        # It is the best proper rotation: no random rotation (with its optimal s, t) does better.
        err = ((s * src @ R.T + t - dst) ** 2).sum()
        xc, yc = src - src.mean(0), dst - dst.mean(0)
        for Rr in random_rotations(200, gen):
            sr = ((yc * (xc @ Rr.T)).sum() / (xc * xc).sum()).clamp_min(0)  # s < 0 would be a reflection
            assert err <= ((sr * xc @ Rr.T - yc) ** 2).sum() + 1e-9


def test_without_scale_and_float32():
    gen = torch.Generator().manual_seed(3)
    _, R, t, src, _ = _problem(gen, 2, 20)
    dst = apply_similarity(torch.ones(2, dtype=torch.float64), R, t, src)
    s_e, R_e, _ = umeyama(src.float(), dst.float(), with_scale=False)
    assert s_e.dtype == torch.float32 and torch.all(s_e == 1)
    assert np.allclose(R_e.numpy(), R.numpy(), atol=1e-5)


def test_bad_inputs_raise():
    x = torch.zeros(5, 3)
    with pytest.raises(ValueError, match="at least 3"):
        umeyama(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="shape of src"):
        umeyama(x, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="coincide"):
        umeyama(x, x)
    with pytest.raises(ValueError, match="sum to zero"):
        umeyama(torch.randn(5, 3), torch.randn(5, 3), torch.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        umeyama(torch.full((5, 3), float("nan")), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="solver"):
        umeyama(torch.randn(5, 3), torch.randn(5, 3), method="qr")
