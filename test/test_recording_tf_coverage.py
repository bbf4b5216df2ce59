"""The bag's TF coverage: a keyframe waits until the bag's own /tf gives its camera pose."""

import pytest

from selfpose_ros.recording.tf_coverage import BagTfBehindError, TfCoverage


def test_a_stamp_is_covered_only_between_samples_of_every_dynamic_edge_on_the_chain():
    cov = TfCoverage()
    cov.add([("map", "base_link", 100), ("map", "base_link", 200)], static=False)
    cov.add([("/base_link", "camera_optical", 0)], static=True)
    cov.check("map", "camera_optical", 150)
    cov.check("camera_optical", "/map", 200)
    with pytest.raises(BagTfBehindError, match="covers \\[100, 200\\] ns, not the image stamp 201"):
        cov.check("map", "camera_optical", 201)
    with pytest.raises(BagTfBehindError):
        cov.check("map", "camera_optical", 99)
    cov.add([("map", "base_link", 300)], static=False)  # the bag's /tf caught up
    cov.check("map", "camera_optical", 250)
    assert issubclass(BagTfBehindError, LookupError)  # the recorder's wait queue retries LookupErrors


def test_unconnected_or_unknown_frames_are_not_covered():
    cov = TfCoverage()
    cov.add([("odom", "base_link", 100), ("odom", "base_link", 200)], static=False)
    with pytest.raises(BagTfBehindError, match="does not connect"):
        cov.check("map", "base_link", 150)
    with pytest.raises(BagTfBehindError, match="does not connect"):
        cov.check("map", "camera", 150)
    cov.check("base_link", "base_link", 5)  # a frame to itself needs no TF
