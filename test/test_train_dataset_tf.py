"""Offline TF buffer: interpolation against analytic motion, chaining, and its errors."""

import numpy as np
import pytest

from selfpose_ros.data.tf_buffer import TfBuffer, TfExtrapolationError, TfLookupError
from selfpose_ros.geometry.rotations import matrix_to_quaternion_np
from selfpose_ros.geometry.transforms import invert_rigid, rigid
from selfpose_ros.sim.tf_tree import R_LINK_OPTICAL

T0 = 1_700_000_000 * 10**9  # realistic epoch stamps: interpolation must not lose precision on them
OMEGA = 0.7  # rad/s about a fixed axis
VELOCITY = np.array([0.3, -0.1, 0.05])  # m/s
AXIS = np.array([0.2, 0.3, 0.93]) / np.linalg.norm([0.2, 0.3, 0.93])


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def _T_map_base(tau: float) -> np.ndarray:
    """Constant linear velocity and constant angular velocity about a fixed axis: lerp + slerp are exact."""
    return rigid(_rotation(AXIS, OMEGA * tau), np.array([1.0, 2.0, 0.5]) + VELOCITY * tau)


T_BASE_LINK = rigid(_rotation(np.array([0.0, 1.0, 0.0]), 0.2), np.array([0.05, 0.0, 0.08]))
T_LINK_OPTICAL = rigid(R_LINK_OPTICAL, np.zeros(3))


def _buffer(tolerance_ns: int = 0, flip_signs: bool = False) -> TfBuffer:
    tf = TfBuffer(tolerance_ns=tolerance_ns)
    tf.add_static("base_link", "camera_link", T_BASE_LINK)
    tf.add_static("/camera_link", "camera_color_optical_frame", T_LINK_OPTICAL)  # leading slash is ignored
    for k in range(21):  # 10 Hz for 2 s
        T = _T_map_base(0.1 * k)
        q = matrix_to_quaternion_np(T[:3, :3])
        if flip_signs and k % 2:
            q = -q  # same rotation; slerp must take the short way
        tf.add_sample("map", "base_link", T0 + k * 100_000_000, T[:3, 3], q)
    return tf


@pytest.mark.parametrize("flip_signs", [False, True])
def test_lookup_matches_analytic_motion_between_samples(flip_signs):
    tf = _buffer(flip_signs=flip_signs)
    rng = np.random.default_rng(0)
    offsets = np.sort(rng.integers(0, 2_000_000_000, size=50))
    T = tf.lookup("map", "camera_color_optical_frame", T0 + offsets)
    for off, got in zip(offsets, T):
        expected = _T_map_base(off * 1e-9) @ T_BASE_LINK @ T_LINK_OPTICAL
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_lookup_inverse_and_through_a_common_ancestor():
    tf = _buffer()
    tf.add_static("base_link", "lidar", rigid(np.eye(3), np.array([0.0, 0.2, 0.3])))
    stamps = T0 + np.array([[123_456_789, 1_500_000_001, 7], [0, 2_000_000_000, 999_999_999]])
    forward = tf.lookup("map", "camera_color_optical_frame", stamps)
    assert forward.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(tf.lookup("camera_color_optical_frame", "map", stamps), invert_rigid(forward),
                               atol=1e-9)
    T_lidar_optical = tf.lookup("lidar", "camera_color_optical_frame", T0 + 5)
    expected = invert_rigid(rigid(np.eye(3), np.array([0.0, 0.2, 0.3]))) @ T_BASE_LINK @ T_LINK_OPTICAL
    np.testing.assert_allclose(T_lidar_optical, expected, atol=1e-12)
    np.testing.assert_allclose(tf.lookup("map", "map", [T0]), np.eye(4)[None])


def test_extrapolation_is_an_error_unless_within_tolerance():
    with pytest.raises(TfExtrapolationError, match="extrapolation"):
        _buffer().lookup("map", "base_link", T0 + 2_000_000_001)
    with pytest.raises(TfExtrapolationError):
        _buffer().lookup("map", "base_link", [T0, T0 - 1])
    held = _buffer(tolerance_ns=50_000_000).lookup("map", "base_link", [T0 - 40_000_000, T0 + 2_040_000_000])
    np.testing.assert_allclose(held[0], _T_map_base(0.0), atol=1e-12)
    np.testing.assert_allclose(held[1], _T_map_base(2.0), atol=1e-12)
    with pytest.raises(TfExtrapolationError):
        _buffer(tolerance_ns=50_000_000).lookup("map", "base_link", T0 + 2_060_000_000)


def test_unknown_and_disconnected_frames_are_named():
    tf = _buffer()
    tf.add_static("odom", "wheel", np.eye(4))
    with pytest.raises(TfLookupError, match="unknown frame 'nowhere'"):
        tf.lookup("map", "nowhere", T0)
    with pytest.raises(TfLookupError, match="disconnected"):
        tf.lookup("map", "wheel", T0)
    # static edges answer at any time, even with no dynamic data at all
    np.testing.assert_allclose(tf.lookup("odom", "wheel", [0, 10**19 // 10]), np.broadcast_to(np.eye(4), (2, 4, 4)))


def test_bad_trees_and_inputs_are_rejected():
    tf = _buffer()
    with pytest.raises(ValueError, match="two parents"):
        tf.add_static("odom", "base_link", np.eye(4))
    with pytest.raises(ValueError, match="both as static and as dynamic"):
        tf.add_sample("base_link", "camera_link", T0, np.zeros(3), np.array([0, 0, 0, 1.0]))
    with pytest.raises(ValueError, match="zero quaternion"):
        tf.add_sample("map", "base_link", T0, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="integer nanoseconds"):
        tf.lookup("map", "base_link", np.array([1.5]))


def test_samples_added_out_of_order_and_repeated_stamps():
    tf = TfBuffer()
    for k in (3, 0, 2, 1, 2):
        T = _T_map_base(float(k))
        tf.add_sample("map", "base_link", T0 + k * 10**9, T[:3, 3], matrix_to_quaternion_np(T[:3, :3]))
    assert tf.time_range("base_link") == (T0, T0 + 3 * 10**9)
    np.testing.assert_allclose(tf.lookup("map", "base_link", T0 + 1_250_000_000), _T_map_base(1.25), atol=1e-9)
