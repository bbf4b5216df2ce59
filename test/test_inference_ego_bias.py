"""Ego-motion debiasing: each object's along-ray offset, learnt from the camera trajectory, taken out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_geometry_ray_bias import orbit

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.inference.ego_bias import EgoBiasConfig, EgoMotionBias
from selfpose_ros.inference.estimator import InstanceResult
from selfpose_ros.inference.pipeline import FramePipeline, PipelineConfig
from selfpose_ros.pose_types import ObjectPoseEstimate

CENTRES = {("can", 1): np.array([0.0, 0.0, 0.05]), ("bowl", 1): np.array([0.12, -0.05, 0.03]),
           ("can", 2): np.array([-0.1, 0.12, 0.05])}
OFFSET = {("can", 1): 0.025, ("bowl", 1): -0.015, ("can", 2): 0.0}  # each object's own along-ray error


def estimates_from(R: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> tuple[list, list]:
    """(biased estimates, true camera-frame centres) of every object seen from the pose (R, p)."""
    out, truth = [], []
    for (cat, inst), m in CENTRES.items():
        t_true = R.T @ (m - p)
        t = t_true + OFFSET[(cat, inst)] * t_true / np.linalg.norm(t_true) + rng.normal(0.0, 0.003, 3)
        out.append(ObjectPoseEstimate(cat, inst, np.eye(3), t, 0.1, np.full(3, 0.1)))
        truth.append(t_true)
    return out, truth


def T_of(R: np.ndarray, p: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, p
    return T


def test_an_orbit_takes_each_objects_offset_out() -> None:
    stage = EgoMotionBias(EgoBiasConfig(frame="map", prior_std=0.05))
    rng = np.random.default_rng(0)
    before, after = [], []
    for k, (R, p) in enumerate(orbit(90.0, 30)):
        ests, truth = estimates_from(R, p, rng)
        if k % 2:  # segmenters list objects in any order
            ests, truth = ests[::-1], truth[::-1]
        out = stage.update(ests, T_of(R, p), k * 100_000_000)
        assert [e.frame_name for e in out] == [e.frame_name for e in ests]
        if k >= 20:
            before += [np.linalg.norm(e.t - t) for e, t in zip(ests, truth)]
            after += [np.linalg.norm(e.t - t) for e, t in zip(out, truth)]
    assert len(stage.objects) == 3
    assert np.median(before) > 0.014
    assert np.median(after) < 0.006
    fitted = {e.frame_name: e.extras for e in out}
    assert fitted["can_1"]["ray_bias_m"] == pytest.approx(0.025, abs=0.004)
    assert fitted["bowl_1"]["ray_bias_m"] == pytest.approx(-0.015, abs=0.004)
    assert fitted["can_2"]["ray_bias_m"] == pytest.approx(0.0, abs=0.004)
    assert fitted["can_1"]["ray_bias_std_m"] < 0.004


def test_a_first_view_is_left_alone_and_old_objects_are_forgotten() -> None:
    stage = EgoMotionBias(EgoBiasConfig(frame="map", max_age_s=1.0))
    (R, p), = orbit(0.0, 1)
    ests, _ = estimates_from(R, p, np.random.default_rng(1))
    out = stage.update(ests, T_of(R, p), 0)
    np.testing.assert_allclose([e.t for e in out], [e.t for e in ests])
    stage.update([], T_of(R, p), 2_000_000_000)
    assert stage.objects == []


def test_an_offset_all_objects_share_is_the_cameras() -> None:
    """A depth offset every object shows is learnt as the camera's: each object's own part stays near zero."""
    stage = EgoMotionBias(EgoBiasConfig(frame="map"))
    rng = np.random.default_rng(3)
    for k, (R, p) in enumerate(orbit(90.0, 30)):
        ests, truth = estimates_from(R, p, rng)
        ests = [dataclasses.replace(e, t=t + 0.02 * t / np.linalg.norm(t) + rng.normal(0.0, 0.003, 3))
                for e, t in zip(ests, truth)]
        out = stage.update(ests, T_of(R, p), k * 100_000_000)
    assert stage.shared == pytest.approx(0.02, abs=0.003)
    for e, t in zip(out, truth):
        assert e.extras["ray_bias_m"] == pytest.approx(0.02, abs=0.004)
        assert np.linalg.norm(e.t - t) < 0.01


def test_a_narrow_arc_moves_nothing() -> None:
    """Rays that turned less than min_span_deg do not count: a sideways error would read as an offset."""
    stage = EgoMotionBias(EgoBiasConfig(frame="map", min_span_deg=30.0))
    rng = np.random.default_rng(5)
    for k, (R, p) in enumerate(orbit(20.0, 30)):
        ests, _ = estimates_from(R, p, rng)
        out = stage.update(ests, T_of(R, p), k * 100_000_000)
        np.testing.assert_allclose([e.t for e in out], [e.t for e in ests])
    assert all(o.span_deg() < 30.0 for o in stage.objects)
    assert stage.shared == 0.0


def test_a_mug_takes_the_cameras_offset_only() -> None:
    """A mug's centre moves with whether its handle shows, no offset along the ray: it is not fitted one."""
    stage = EgoMotionBias(EgoBiasConfig(frame="map"))
    rng = np.random.default_rng(4)
    for k, (R, p) in enumerate(orbit(90.0, 30)):
        ests, truth = estimates_from(R, p, rng)
        ests.append(ObjectPoseEstimate("mug", 7, np.eye(3), truth[0] + np.array([0.2, 0.0, 0.3]), 0.1, np.full(3, 0.1)))
        out = stage.update(ests, T_of(R, p), k * 100_000_000)
    assert out[-1].extras["ray_bias_m"] == stage.shared
    assert out[0].extras["ray_bias_m"] != stage.shared


@pytest.mark.parametrize("bad", [{"prior_std": 0.0}, {"object_prior_std": -0.01}, {"min_span_deg": 0.0},
                                 {"gate": -1.0}, {"max_views": 2}, {"max_age_s": 0.0}])
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="ego-motion debiasing"):
        EgoBiasConfig(frame="map", **bad)


class _Fixed:
    """A back-end that returns prepared estimates (the pipeline's stages are what is tested)."""

    categories = ["bowl", "can"]

    def __init__(self) -> None:
        self.next: list[ObjectPoseEstimate] = []

    def estimate(self, frame, instances):
        by_key = {(e.category, e.instance): e for e in self.next}
        return [InstanceResult(inst, by_key.get((inst.category, inst.instance))) for inst in instances]


def _frame(stamp_ns: int) -> RGBDFrame:
    labels = np.zeros((48, 64), np.int32)
    labels[5:20, 5:20] = 2001  # can 1 (categories bowl, can: index 2)
    labels[25:40, 30:50] = 1001  # bowl 1
    labels[30:45, 5:20] = 2002  # can 2
    return RGBDFrame(np.zeros((48, 64, 3), np.uint8), np.ones((48, 64), np.float32), labels,
                     np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]]), "cam", stamp_ns)


def test_the_pipeline_debiases_through_tf_and_says_when_it_cannot() -> None:
    poses = orbit(90.0, 12)
    est = _Fixed()
    lookups = []

    def tf_lookup(target: str, source: str, stamp_ns: int) -> np.ndarray:
        lookups.append((target, source))
        k = stamp_ns // 1000
        if k >= len(poses):
            raise LookupError("extrapolation into the future")
        return T_of(*poses[k])

    config = PipelineConfig(["bowl", "can"], min_mask_pixels=10, ego_bias=EgoBiasConfig(frame="odom", prior_std=0.05))
    pipe = FramePipeline(est, config, tf_lookup=tf_lookup)
    rng = np.random.default_rng(2)
    for k, (R, p) in enumerate(poses):
        est.next, truth = estimates_from(R, p, rng)
        result = pipe.process(_frame(k * 1000))
        assert result.ego_bias_error is None
    by_name = {e.frame_name: e for e in result.estimates}
    assert np.linalg.norm(by_name["can_1"].t - truth[0]) < 0.012  # one view's 3 mm noise remains
    assert np.linalg.norm(est.next[0].t - truth[0]) > 0.02
    assert lookups[0] == ("odom", "cam")
    assert "ego_bias" in pipe.timer.summary()
    result = pipe.process(_frame(len(poses) * 1000))
    assert "not debiased" in result.ego_bias_error
    assert len(result.estimates) == 3


def test_the_pipeline_refuses_debiasing_without_tf() -> None:
    with pytest.raises(ValueError, match="needs a tf_lookup"):
        FramePipeline(_Fixed(), PipelineConfig(["bowl", "can"], ego_bias=EgoBiasConfig(frame="map")))
