"""Shape ranges of real household objects: proportions span squat to slender, sizes stay real, priors stay put."""

from __future__ import annotations

import numpy as np
import pytest

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.shapes import bottle, bowl, camera_body, can, laptop, mug
from selfpose_ros.shapes.mug import handle_geometry
from selfpose_ros.shapes.registry import category_shape, sample_instance

SAMPLES = 60
RESOLUTION = 12


def proportions(category: str, samples: int = SAMPLES) -> list:
    """(instance, extents, scale range) of random instances."""
    rng = np.random.default_rng(11)
    out = []
    for _ in range(samples):
        inst = sample_instance(category, rng, resolution=RESOLUTION)
        out.append((inst, inst.extents, inst.scale_range()))
    return out


def test_cans_span_squat_tins_to_tall_drink_cans() -> None:
    hd = np.array([e[1] / e[0] for _, e, _ in proportions("can")])
    assert hd.min() < 0.45 and hd.max() > 2.0
    # The documented extremes are reachable: height / diameter = height parameter / 2.
    lo, hi = can.RANGES["height"]
    assert lo / 2 == pytest.approx(0.35) and hi / 2 == pytest.approx(2.2)


def test_bottles_squat_to_slender_and_bowls_flat_to_deep() -> None:
    bottles = np.array([e[1] / e[0] for _, e, _ in proportions("bottle")])
    assert bottles.min() < 2.0 and bottles.max() > 4.0
    bowls = np.array([e[1] / e[0] for _, e, _ in proportions("bowl")])
    assert bowls.min() < 0.2 and bowls.max() > 0.42


def test_mug_handles_vary_in_size_and_placement() -> None:
    rng = np.random.default_rng(3)
    shape = category_shape("mug")
    geometry = [handle_geometry(shape.sample_params(rng)) for _ in range(200)]
    centre = np.array([g["y"] for g in geometry])
    tube = np.array([g["minor"] for g in geometry])
    size = np.array([g["major"] for g in geometry])
    assert np.ptp(centre) > 1.0 and tube.max() / tube.min() > 2.5 and size.max() / size.min() > 2.0


@pytest.mark.parametrize("category", ["laptop", "camera"])
def test_laptops_and_cameras_have_varied_proportions(category: str) -> None:
    ext = np.array([e for _, e, _ in proportions(category)])
    for a, b in ((1, 0), (2, 0)):
        ratio = ext[:, a] / ext[:, b]
        assert ratio.max() / ratio.min() > 1.6


@pytest.mark.parametrize("category", CATEGORIES)
def test_sampled_sizes_respect_the_category_range_and_limits(category: str) -> None:
    shape = category_shape(category)
    for inst, ext, (lo, hi) in proportions(category, 30):
        assert 0 < lo <= hi
        for r in (shape.metric, *shape.limits):
            assert r.low - 1e-9 <= lo * ext[r.axis] and hi * ext[r.axis] <= r.high + 1e-9, (category, r, ext)
        s = inst.sample_scale(np.random.default_rng(0))
        assert lo <= s <= hi


@pytest.mark.parametrize("module", [bottle, bowl, camera_body, can, laptop, mug])
def test_prior_parameters_are_the_shipped_midpoints_inside_the_new_ranges(module) -> None:
    shape = next(v for v in vars(module).values() if type(v).__name__ == "CategoryShape")
    params = shape.mean_params()
    shape.check_params(params)  # inside the widened ranges
    for k, (lo, hi) in module.PRIOR_RANGES.items():
        assert params[k] == 0.5 * (lo + hi)
        assert module.RANGES[k][0] <= lo and hi <= module.RANGES[k][1]
    for k, (lo, hi) in module.RANGES.items():
        if k not in module.PRIOR_RANGES:
            assert params[k] == 0.5 * (lo + hi)
