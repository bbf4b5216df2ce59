"""Keyframe gate (blur, spacing, gaps, jumps, segments) and the TF wait queue: pure Python, no ROS."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfpose_ros.recording.keyframes import GateConfig, KeyframeGate, relative_motion
from selfpose_ros.recording.tf_wait import TfWaitQueue

MS = 1_000_000
CFG = GateConfig(min_translation=0.10, min_rotation_deg=5.0, max_linear_speed=1.0, max_angular_speed_deg=90.0,
                 blur_dt=0.02, max_gap=1.0, jump_translation=0.5, jump_rotation_deg=30.0)


def yaw_pose(deg: float, x: float = 0.0) -> np.ndarray:
    a = math.radians(deg)
    T = np.eye(4)
    T[:2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    T[0, 3] = x
    return T


def pose_at(angles: list[float], xs: list[float], stamps: list[int], t: int) -> np.ndarray:
    """Linear interpolation of yaw and x between samples (what a TF buffer does for a pure yaw + x path)."""
    return yaw_pose(float(np.interp(t, stamps, angles)), float(np.interp(t, stamps, xs)))


def run_gate(angles, xs, stamps, cfg=CFG):
    gate = KeyframeGate(cfg)
    dt = int(cfg.blur_dt * 1e9)
    out = [gate.decide(t, pose_at(angles, xs, stamps, t), pose_at(angles, xs, stamps, t - dt)) for t in stamps[1:]]
    return gate, out


def test_relative_motion_is_batched_and_exact():
    Ta = np.stack([yaw_pose(0.0), yaw_pose(10.0, x=0.3)])
    Tb = np.stack([yaw_pose(7.0, x=0.2), yaw_pose(10.0, x=0.3)])
    d, r = relative_motion(Ta, Tb)
    assert d.shape == r.shape == (2,)
    np.testing.assert_allclose(d, [0.2, 0.0], atol=1e-12)
    np.testing.assert_allclose(r, [7.0, 0.0], atol=1e-6)


def test_scripted_path_keeps_the_expected_frames_and_segments():
    """Frames 0..69, 50 ms apart, yaw 1.8 deg per frame; sample k + 1 is frame k (sample 0: the TF before)."""
    step = [0.0] + [1.8] * 30 + [7.2] * 3 + [1.8] * 37  # frames 30..32 turn 7.2 deg in 50 ms = 144 deg/s
    angles = list(np.cumsum(step))
    stamps = [k * 50 * MS for k in range(71)]
    stamps = stamps[:46] + [s + 2000 * MS for s in stamps[46:]]  # 2 s without frames before frame 45
    xs = [0.0] * 58 + [1.0] * 13  # the camera jumps 1 m between frames 56 and 57
    gate, out = run_gate(angles, xs, stamps)
    kept = [k for k, d in enumerate(out) if d.keep]
    # every 3rd frame turned 5.4 deg > 5 (two frames: 3.6); 30..32 are blurred; 33 is 27 deg (< 30, no jump)
    # from keyframe 27; the gap opens segment 1 at 45; the jump blurs 57 and opens segment 2 at 58.
    assert kept == list(range(0, 28, 3)) + [33, 36, 39, 42] + [45, 48, 51, 54] + [58, 61, 64, 67]
    reasons = {k: out[k].reason for k in kept}
    assert reasons[0] == "first" and reasons[45] == "gap" and reasons[58] == "jump"
    assert {reasons[k] for k in kept if k not in (0, 45, 58)} == {"rotation"}
    assert [out[k].segment for k in kept] == [0] * 14 + [1] * 4 + [2] * 4
    assert [k for k, d in enumerate(out) if d.reason == "blurred"] == [30, 31, 32, 57]
    assert out[33].rotation_deg == pytest.approx(27.0, abs=1e-6)
    assert out[3].rotation_deg == pytest.approx(5.4, abs=1e-6)
    assert out[58].translation == pytest.approx(1.0, abs=1e-9)
    assert gate.kept == 22 and gate.segment == 2
    assert gate.counts == {"first": 1, "rotation": 19, "gap": 1, "jump": 1, "blurred": 4, "too_close": 44}


def test_translation_keeps_and_speed_limits_drop():
    gate = KeyframeGate(CFG)
    dt = int(CFG.blur_dt * 1e9)
    assert gate.decide(0, yaw_pose(0), yaw_pose(0)).reason == "first"
    assert gate.decide(50 * MS, yaw_pose(0, x=0.05), yaw_pose(0, x=0.04)).reason == "too_close"
    d = gate.decide(100 * MS, yaw_pose(0, x=0.11), yaw_pose(0, x=0.10))
    assert (d.keep, d.reason, d.translation) == (True, "translation", pytest.approx(0.11))
    # 0.03 m in 20 ms = 1.5 m/s > 1.0: blurred even though it moved enough
    d = gate.decide(150 * MS + dt, yaw_pose(0, x=0.30), yaw_pose(0, x=0.27))
    assert (d.keep, d.reason, d.linear_speed) == (False, "blurred", pytest.approx(1.5))
    # a stamp older than the previous candidate starts a new segment
    d = gate.decide(10 * MS, yaw_pose(0, x=0.30), yaw_pose(0, x=0.30))
    assert (d.reason, d.new_segment, d.segment) == ("time_reversal", True, 1)
    gate.reset()
    assert gate.kept == 0 and gate.decide(0, yaw_pose(0), yaw_pose(0)).segment == 0


@pytest.mark.parametrize("change, message", [
    ({"min_translation": 0.0}, "min_translation must be a finite number > 0"),
    ({"blur_dt": float("nan")}, "blur_dt must be a finite number > 0"),
    ({"jump_translation": 0.05}, "jump_translation (0.05) must exceed min_translation"),
    ({"jump_rotation_deg": 5.0}, "jump_rotation_deg (5.0) must exceed min_rotation_deg"),
])
def test_bad_configuration_is_rejected(change, message):
    fields = {**CFG.__dict__, **change}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        KeyframeGate(GateConfig(**fields))


def test_bad_pose_is_rejected():
    with pytest.raises(ValueError, match="T must be a finite 4x4"):
        KeyframeGate(CFG).decide(0, np.full((4, 4), np.nan), np.eye(4))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-4.0, 4.0), st.floats(-0.04, 0.04), st.integers(30, 1500)),
                min_size=5, max_size=60))
def test_invariants_on_random_walks(steps):
    """Kept frames moved enough since the last keyframe, dropped ones did not, blurred ones were fast."""
    angles, xs, stamps = [0.0], [0.0], [0]
    for dyaw, dx, dt_ms in steps:
        angles.append(angles[-1] + dyaw)
        xs.append(xs[-1] + dx)
        stamps.append(stamps[-1] + dt_ms * MS)
    _, out = run_gate(angles, xs, stamps)
    for d in out:
        fast = d.linear_speed > CFG.max_linear_speed or d.angular_speed_deg > CFG.max_angular_speed_deg
        assert (d.reason == "blurred") == fast
        if d.reason == "too_close":
            assert d.translation <= CFG.min_translation and d.rotation_deg <= CFG.min_rotation_deg
        if d.reason in ("translation", "rotation"):
            assert not d.new_segment
            assert d.translation > CFG.min_translation or d.rotation_deg > CFG.min_rotation_deg
            assert d.translation <= CFG.jump_translation and d.rotation_deg <= CFG.jump_rotation_deg
        if d.reason == "jump":
            assert d.translation > CFG.jump_translation or d.rotation_deg > CFG.jump_rotation_deg
    segments = [d.segment for d in out if d.keep]
    assert segments == sorted(segments) and (not segments or segments[0] == 0)
    assert len(set(segments)) == sum(d.new_segment for d in out if d.keep)


def test_tf_wait_queue_keeps_order_and_times_out():
    q: TfWaitQueue[int, str] = TfWaitQueue(timeout_s=0.5, max_len=3)
    available = {1}

    def lookup(item: int) -> str:
        if item not in available:
            raise LookupError(f"no TF for {item}")
        return f"pose{item}"

    for item in (1, 2, 3):
        assert q.push(item, now_s=0.0) is None
    assert [(r.item, r.result) for r in q.drain(lookup, now_s=0.1)] == [(1, "pose1")]
    available.add(3)  # 3 is ready but must not overtake 2
    assert list(q.drain(lookup, now_s=0.2)) == []
    assert q.push(4, now_s=0.2) is None
    assert q.push(5, now_s=0.2) == 2  # full: the oldest waiting frame makes room
    res = list(q.drain(lookup, now_s=0.6))  # 3 resolves; 4 arrived at 0.2 and waits until 0.7 s
    assert [(r.item, r.result, r.error) for r in res] == [(3, "pose3", None)]
    res = list(q.drain(lookup, now_s=0.75))
    assert [(r.item, r.error) for r in res] == [(4, "no TF for 4"), (5, "no TF for 5")]
    q.push(6, now_s=1.0)
    assert [r.item for r in q.drain(lookup, now_s=1.0, final=True)] == [6] and len(q) == 0
