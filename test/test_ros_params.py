"""PoseEstimatorParams.validate: every bad value named in one error (the node exits with it at start-up)."""

import pytest

pytest.importorskip("rclpy")

from selfpose_ros.ros.params import PoseEstimatorParams  # noqa: E402


def test_defaults_are_valid_and_warm_up_is_bounded():
    PoseEstimatorParams().validate()
    PoseEstimatorParams(warm_up_objects=0).validate()
    with pytest.raises(ValueError, match="warm_up_objects must be in 0..64, got -1"):
        PoseEstimatorParams(warm_up_objects=-1).validate()


def test_several_bad_values_are_reported_together():
    with pytest.raises(ValueError) as err:
        PoseEstimatorParams(warm_up_objects=100, model="").validate()
    assert "warm_up_objects" in str(err.value) and "model must be" in str(err.value)


def test_ego_bias_is_off_by_default_and_its_values_are_checked():
    assert not PoseEstimatorParams().ego_bias_config().enabled
    config = PoseEstimatorParams(ego_bias_frame="/odom", ego_bias_prior=0.01, ego_bias_object_prior=0.005,
                                 track_gate=0.2).ego_bias_config()
    assert (config.frame, config.prior_std, config.object_prior_std, config.gate) == ("odom", 0.01, 0.005, 0.2)
    with pytest.raises(ValueError) as err:
        PoseEstimatorParams(ego_bias_frame="my map", ego_bias_prior=0.0, ego_bias_object_prior=0.3).validate()
    assert "ego_bias_frame must be a TF frame name" in str(err.value)
    assert "ego_bias_prior must be in (0, 0.2]" in str(err.value)
    assert "ego_bias_object_prior must be in (0, 0.2]" in str(err.value)


def test_mask_reach_is_checked_and_reaches_the_solver():
    from selfpose_ros.inference.estimator import SolverOptions

    assert PoseEstimatorParams().mask_reach_px == SolverOptions().mask_reach_px == 4
    PoseEstimatorParams(mask_reach_px=0).validate()
    with pytest.raises(ValueError, match=r"mask_reach_px must be in \[0, 32\] pixels, got -2"):
        PoseEstimatorParams(mask_reach_px=-2).validate()
    with pytest.raises(ValueError, match="mask_reach_px"):
        SolverOptions(mask_reach_px=33)
    assert SolverOptions(mask_reach_px=6).reach().reach_px == 6
