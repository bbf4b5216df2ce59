"""Tracking and SE(3) smoothing: association, noise reduction, outlier rejection, symmetric spin, expiry."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from selfpose_ros.inference.tracking import PoseTracker, TrackerConfig, align_symmetric, rotation_distance_deg
from selfpose_ros.pose_types import ObjectPoseEstimate

MS = 1_000_000


def est(cat="mug", inst=1, t=(0.0, 0.0, 0.6), R=None, s=0.2):
    size = np.array([0.1, 0.1, 0.1]) * s / 0.2
    return ObjectPoseEstimate(cat, inst, np.eye(3) if R is None else R, np.array(t), s, size)


def test_smoothing_reduces_noise_around_a_static_pose():
    rng = np.random.default_rng(0)
    tracker = PoseTracker(TrackerConfig(alpha=0.3))
    R0 = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    t0 = np.array([0.1, -0.05, 0.7])
    raw_err, smooth_err, raw_rot, smooth_rot = [], [], [], []
    for k in range(60):
        noisy_R = R0 @ Rotation.from_rotvec(rng.normal(scale=np.radians(3), size=3)).as_matrix()
        noisy_t = t0 + rng.normal(scale=0.005, size=3)
        (out, track_id), = tracker.update([est(R=noisy_R, t=noisy_t)], k * 33 * MS)
        assert track_id == "mug_1#1"
        if k >= 10:
            raw_err.append(np.linalg.norm(noisy_t - t0))
            smooth_err.append(np.linalg.norm(out.t - t0))
            raw_rot.append(rotation_distance_deg(noisy_R, R0))
            smooth_rot.append(rotation_distance_deg(out.R, R0))
    assert np.mean(smooth_err) < 0.6 * np.mean(raw_err)
    assert np.mean(smooth_rot) < 0.6 * np.mean(raw_rot)


def test_single_outlier_is_ignored_and_a_real_move_reinitialises():
    tracker = PoseTracker(TrackerConfig(alpha=1.0, max_jump_m=0.05, reinit_after=3, gate=0.5))
    tracker.update([est(t=(0, 0, 0.6))], 0)
    (out, _), = tracker.update([est(t=(0.2, 0, 0.6))], 33 * MS)  # one wild estimate: ignored
    np.testing.assert_allclose(out.t, [0, 0, 0.6])
    (out, _), = tracker.update([est(t=(0.0, 0, 0.6))], 66 * MS)
    np.testing.assert_allclose(out.t, [0, 0, 0.6])
    for k in range(3):  # the object really moved: three consistent estimates
        (out, _), = tracker.update([est(t=(0.2, 0, 0.6))], (100 + k * 33) * MS)
    np.testing.assert_allclose(out.t, [0.2, 0, 0.6])


def test_association_by_label_and_position():
    tracker = PoseTracker(TrackerConfig(alpha=1.0, gate=0.1))
    first = tracker.update([est(inst=1, t=(0, 0, 0.6)), est(inst=2, t=(0.3, 0, 0.6)),
                            est("bowl", 1, (0, 0.2, 0.6))], 0)
    ids = [i for _, i in first]
    assert len(set(ids)) == 3
    # the segmenter swapped instance ids between frames: position decides, the label only breaks ties
    second = tracker.update([est(inst=7, t=(0.31, 0, 0.6)), est(inst=1, t=(0.01, 0, 0.6))], 33 * MS)
    assert [i for _, i in second] == [ids[1].replace("mug_2", "mug_7"), ids[0]]
    assert second[0][1].endswith("#2") and second[1][1].endswith("#1")


def test_symmetric_spin_about_y_does_not_disturb_the_track():
    tracker = PoseTracker(TrackerConfig(alpha=0.5))
    R0 = Rotation.from_euler("x", 20, degrees=True).as_matrix()
    tracker.update([est("can", 1, R=R0)], 0)
    spun = R0 @ Rotation.from_euler("y", 170, degrees=True).as_matrix()
    (out, _), = tracker.update([est("can", 1, R=spun)], 33 * MS)
    assert rotation_distance_deg(out.R, R0) < 1e-4
    np.testing.assert_allclose(align_symmetric("can", R0, spun), R0, atol=1e-9)
    assert rotation_distance_deg(align_symmetric("camera", R0, spun), R0) > 100  # no symmetry: unchanged


def test_tracks_expire_and_disabled_tracker_passes_through():
    tracker = PoseTracker(TrackerConfig(max_age_s=0.5))
    tracker.update([est()], 0)
    tracker.update([], 2000 * MS)
    assert tracker.tracks == []
    off = PoseTracker(TrackerConfig(enabled=False))
    e = est(t=(1, 2, 3))
    assert off.update([e], 0) == [(e, "mug_1")]


def test_invalid_config():
    with pytest.raises(ValueError):
        TrackerConfig(alpha=0.0)
