"""Objects that return no depth (clear glass, black plastic) are stood on the support plane from their mask by
both back-ends, instead of being dropped (the depth-only baseline) or put at a typical size's distance (PnP)."""

from pathlib import Path

import numpy as np
import pytest

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import extract_instances
from selfpose_ros.inference.estimator import SolverOptions
from selfpose_ros.inference.instance_geometry import frame_geometry
from selfpose_ros.inference.mask_on_plane import STANDING_SOLIDS
from selfpose_ros.inference.prior_fit_estimator import PriorFitEstimator
from selfpose_ros.sim.scene import SceneConfig
from selfpose_ros.sim.simulator import SimConfig, SimScene

MODEL = Path(__file__).resolve().parents[1] / "models" / "cse_6cat_rgbd.pt"
OPTIONS = SolverOptions(min_inliers=15)


def _frames(category: str, see_through: bool, n: int = 3):
    """Clean simulated frames of one ``category`` object whose depth is gone: NaN, or (``see_through``) the
    table's depth behind it, as a clear object gives; with the object's true pose and size."""
    out = []
    for seed in range(n):
        cfg = SimConfig(width=320, height=240, num_frames=1,
                        scene=SceneConfig(categories=(category,), min_objects=1, max_objects=1))
        f = SimScene(cfg, seed=seed).render(0)
        o = f.objects[0]
        frame = RGBDFrame(f.rgb, f.depth_m.astype(np.float32), f.segmentation, np.asarray(f.K, np.float64),
                          up=f.T_map_optical[2, :3].copy())
        mask = f.segmentation == o.label
        depth = frame.depth.copy()
        if see_through:  # the table plane found with the object's mask left out, read along each masked ray
            plane = frame_geometry(frame, extract_instances(frame.labels, CATEGORIES, (category,), 20)[0]).support
            v, u = np.nonzero(mask)
            rays = np.c_[u, v, np.ones(len(u))] @ np.linalg.inv(frame.K).T
            depth[v, u] = -plane.offset / (rays @ plane.normal)
        else:
            depth[mask] = np.nan
        frame.depth = depth
        out.append((frame, o.rotation, o.translation, np.asarray(o.size)))
    return out


def _check(results, cases):
    for (result,), (_, _, t, size) in zip(results, cases):
        assert result.estimate is not None, result.failure
        est = result.estimate
        assert est.extras["method"] == "mask_on_plane" and 0.6 <= est.extras["silhouette_iou"] <= 1.0
        assert est.confidence <= 0.5
        assert np.linalg.norm(est.t - t) < 0.03, (est.t, t)
        assert np.all(np.abs(np.log(est.size / size)) < np.log(1.3)), est.size / size


@pytest.mark.parametrize("category", STANDING_SOLIDS)
@pytest.mark.parametrize("see_through", [False, True])
def test_the_baseline_stands_a_depthless_object_on_the_table(category, see_through):
    est = PriorFitEstimator([category], OPTIONS)
    cases = _frames(category, see_through)
    results = [est.estimate(frame, extract_instances(frame.labels, CATEGORIES, (category,), 20)[0])
               for frame, *_ in cases]
    _check(results, cases)


def test_the_learned_back_end_stands_it_too_and_pnp_without_a_plane():
    from selfpose_ros.inference.backends import make_estimator

    est = make_estimator(str(MODEL), ["bottle"], OPTIONS)
    cases = _frames("bottle", False)
    results = [est.estimate(frame, extract_instances(frame.labels, CATEGORIES, ("bottle",), 20)[0])
               for frame, *_ in cases]
    _check(results, cases)
    # no support plane and no up: nothing fixes the distance, PnP at the typical size runs as before
    flat = make_estimator(str(MODEL), ["bottle"], SolverOptions(min_inliers=15, support_plane=False))
    frame = cases[0][0]
    frame.up = None
    (result,) = flat.estimate(frame, extract_instances(frame.labels, CATEGORIES, ("bottle",), 20)[0])
    assert result.estimate is None or result.estimate.extras["method"] in ("dense_pnp", "keypoint_pnp")


def test_no_plane_no_fallback_for_the_baseline():
    est = PriorFitEstimator(["can"], SolverOptions(min_inliers=15, support_plane=False))
    frame = _frames("can", False, 1)[0][0]
    frame.up = None
    (result,) = est.estimate(frame, extract_instances(frame.labels, CATEGORIES, ("can",), 20)[0])
    assert result.estimate is None and "valid depth points" in result.failure and "mask_on_plane" not in result.failure
