"""Category size ranges: consistent, covering real objects and every simulated instance, and the policy
(keep, clamp with lowered confidence, fail with a named reason) for sizes outside them."""

import numpy as np
import pytest

from selfpose_ros.conventions import CATEGORIES, SYMMETRY
from selfpose_ros.shapes.registry import sample_instance
from selfpose_ros.shapes.size_ranges import (
    CATEGORY_SIZE_RANGES,
    MAX_CLAMP_FACTOR,
    SIZE_OUT_OF_RANGE,
    axis_scale_bounds,
    check_size,
    clamp_size,
    range_factor,
    similarity_scale_bounds,
    size_range,
)


def test_every_category_has_a_consistent_range():
    assert set(CATEGORY_SIZE_RANGES) == set(CATEGORIES)
    for cat, r in CATEGORY_SIZE_RANGES.items():
        assert (np.asarray(r.low) < np.asarray(r.high)).all()
        if SYMMETRY[cat] == "continuous_y":  # x = z = diameter, and every diameter has some height that fits
            assert r.aspect is not None and r.low[0] == r.low[2] and r.high[0] == r.high[2]
            for d in np.linspace(r.low[0], r.high[0], 50):
                assert max(r.low[1], r.aspect[0] * d) <= min(r.high[1], r.aspect[1] * d), (cat, d)
        else:
            assert r.aspect is None
    with pytest.raises(ValueError, match="no size range"):
        size_range("teapot")


@pytest.mark.parametrize("cat", CATEGORIES)
def test_every_simulated_instance_lies_inside_its_range(cat):
    rng = np.random.default_rng(11)
    for _ in range(25):
        inst = sample_instance(cat, rng, 16)
        for s in inst.scale_range():  # the smallest and the largest metric size of this shape
            size = s * inst.extents
            if SYMMETRY[cat] == "continuous_y":  # the box convention: square cross-section
                size = np.array([0.5 * (size[0] + size[2]), size[1], 0.5 * (size[0] + size[2])])
            assert range_factor(cat, size) == pytest.approx(1.0), (cat, inst.params, size)


def test_real_household_objects_are_inside():
    assert range_factor("can", [0.066, 0.145, 0.066]) == 1.0  # slim drink can, height/diameter 2.2
    assert range_factor("can", [0.085, 0.03, 0.085]) == 1.0  # tuna tin, 0.35
    assert range_factor("bottle", [0.09, 0.33, 0.09]) == 1.0  # 2 l soda bottle
    assert range_factor("bowl", [0.16, 0.07, 0.16]) == 1.0  # cereal bowl
    assert range_factor("mug", [0.12, 0.095, 0.082]) == 1.0
    assert range_factor("laptop", [0.33, 0.02, 0.23]) == 1.0  # closed 13" laptop
    assert range_factor("camera", [0.14, 0.1, 0.12]) == 1.0  # DSLR with a short lens


def test_size_inside_is_kept_untouched():
    c = check_size("mug", [0.12, 0.095, 0.082])
    assert c.failure is None and not c.clamped and c.confidence_factor == 1.0 and c.factor == 1.0
    assert np.allclose(c.size, [0.12, 0.095, 0.082])


def test_size_slightly_outside_is_clamped_into_the_range_with_lower_confidence():
    for cat, size in (
        ("can", [0.066, 0.19, 0.066]),  # too slender: height/diameter 2.9 > 2.6
        ("bowl", [0.4, 0.1, 0.4]),  # a bit too wide
        ("laptop", [0.5, 0.3, 0.3]),
        ("bottle", [0.02, 0.1, 0.03]),
    ):
        c = check_size(cat, size)
        assert c.failure is None and c.clamped, cat
        assert 1.0 < c.factor <= MAX_CLAMP_FACTOR
        assert c.confidence_factor == pytest.approx(1.0 / c.factor**2) and c.confidence_factor < 1.0
        assert range_factor(cat, c.size) == pytest.approx(1.0), (cat, c.size)
    # solids of revolution stay round
    c = check_size("bottle", [0.02, 0.1, 0.03])
    assert c.size[0] == c.size[2]


def test_size_far_outside_fails_with_a_named_reason():
    # the real failures: free-scale ICP following a bleeding mask's background
    for cat, size in (("bowl", [0.83, 0.3, 0.83]), ("bottle", [0.2, 0.78, 0.2]), ("bottle", [0.3, 1.78, 0.3])):
        c = check_size(cat, size)
        assert c.size is None and c.confidence_factor == 0.0 and c.factor > MAX_CLAMP_FACTOR
        assert c.failure.startswith(SIZE_OUT_OF_RANGE) and cat in c.failure
    for bad in ([np.nan, 0.1, 0.1], [0.0, 0.1, 0.1], [-0.1, 0.1, 0.1]):
        c = check_size("can", bad)
        assert c.size is None and SIZE_OUT_OF_RANGE in c.failure


def test_clamp_and_scale_bounds():
    r = size_range("can")
    assert np.allclose(clamp_size("can", [1.0, 1.0, 1.0]), [r.high[0], r.high[1], r.high[0]])
    ext = np.array([0.5, 0.7, 0.5])
    lo, hi = axis_scale_bounds("can", ext)
    assert np.allclose(lo * ext * MAX_CLAMP_FACTOR, r.low) and np.allclose(hi * ext / MAX_CLAMP_FACTOR, r.high)
    s_lo, s_hi = similarity_scale_bounds("can", ext)
    assert s_lo == pytest.approx(lo.min()) and s_hi == pytest.approx(hi.max())
