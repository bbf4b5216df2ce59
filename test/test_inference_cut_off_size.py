"""An instance cut off by the image border: the seen part is only a part of it, and its size must not shrink
with it (issue 11: a bottle seen as a sliver at the border was fitted at 0.44x of its height)."""

import numpy as np
import pytest

import selfpose_ros.inference.instance_geometry as instance_geometry
from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import extract_instances
from selfpose_ros.inference.estimator import SolverOptions
from selfpose_ros.inference.prior_fit_estimator import PriorFitEstimator
from selfpose_ros.shapes.size_ranges import typical_size
from selfpose_ros.sim.scene import SceneConfig
from selfpose_ros.sim.simulator import SimConfig, SimScene


def _cut_bottles(share: float):
    """Simulated bottles, each cut so that only the lower ``share`` of its rows and its right half are in view."""
    out = []
    for seed in range(6):
        cfg = SimConfig(
            width=320, height=240, num_frames=1, scene=SceneConfig(categories=("bottle",), min_objects=1, max_objects=1)
        )
        f = SimScene(cfg, seed=seed).render(0)
        o = f.objects[0]
        rows, cols = (
            np.flatnonzero((f.segmentation == o.label).any(1)),
            np.flatnonzero((f.segmentation == o.label).any(0)),
        )
        r0, c0 = int(rows[-1] - share * (rows[-1] - rows[0])), int((cols[0] + cols[-1]) // 2)
        K = np.array(f.K, np.float64)
        K[0, 2] -= c0
        K[1, 2] -= r0
        crop = (slice(r0, None), slice(c0, None))
        frame = RGBDFrame(
            np.ascontiguousarray(f.rgb[crop]),
            np.ascontiguousarray(f.depth_m[crop], np.float32),
            np.ascontiguousarray(f.segmentation[crop]),
            K,
            up=f.T_map_optical[2, :3].copy(),
        )
        out.append((frame, np.asarray(o.size)))
    return out


@pytest.mark.parametrize("share", [0.35, 0.5])
def test_a_bottle_cut_by_the_border_is_not_fitted_small(share, monkeypatch):
    est = PriorFitEstimator(["bottle"], SolverOptions(min_inliers=15))
    cases = _cut_bottles(share)

    def ratios():
        out = []
        for frame, truth in cases:
            instances, _ = extract_instances(frame.labels, CATEGORIES, ("bottle",), 20)
            (result,) = est.estimate(frame, instances)
            assert result.estimate is not None, result.failure
            out.append(result.estimate.size / truth)
        return np.array(out)

    geo_cut = [
        instance_geometry.frame_geometry(frame, extract_instances(frame.labels, CATEGORIES, ("bottle",), 20)[0])
        for frame, _ in cases
    ]
    assert all(g.cut_off(0) for g in geo_cut)
    with_floor = ratios()
    monkeypatch.setattr(instance_geometry, "CUT_OFF_MIN_TYPICAL", 0.0)
    without = ratios()
    # the floor: no bottle off by 2x any more, and the sizes closer to the truth overall
    assert np.all((with_floor > 0.5) & (with_floor < 2.0)), with_floor.round(2)
    assert np.abs(np.log(with_floor)).mean() < 0.8 * np.abs(np.log(without)).mean(), (
        with_floor.round(2),
        without.round(2),
    )
    # only small fits are raised, never above what the floor asks for
    for frame_size, r0, (_, truth) in zip(with_floor, without, cases):
        if np.linalg.norm(r0 * truth) >= np.linalg.norm(typical_size("bottle")):
            np.testing.assert_allclose(frame_size, r0, atol=1e-9)


def test_cut_off_needs_mask_pixels_on_the_border():
    f = SimScene(
        SimConfig(
            width=160, height=120, num_frames=1, scene=SceneConfig(categories=("can",), min_objects=1, max_objects=1)
        ),
        seed=1,
    ).render(0)
    frame = RGBDFrame(f.rgb, f.depth_m.astype(np.float32), f.segmentation, f.K)
    instances, _ = extract_instances(f.segmentation, CATEGORIES, ("can",), 20)
    geo = instance_geometry.frame_geometry(frame, instances)
    m = instances[0].mask
    assert geo.cut_off(0) == bool(m[:2].any() or m[-2:].any() or m[:, :2].any() or m[:, -2:].any())
    geo.masks = np.zeros_like(geo.masks)
    geo.masks[0, 50:60, 0:1] = True  # ten pixels in the left border band
    assert geo.cut_off(0)
    geo.masks[0, 50:60, 0:1] = False
    geo.masks[0, 50:60, 40:50] = True
    assert not geo.cut_off(0)
