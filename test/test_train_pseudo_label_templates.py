"""Template pseudo-labels: more shapes than the mean prior are fitted to a fused cloud; the closest fit wins."""

import numpy as np
import pytest

from selfpose_ros.geometry.rotations import rotation_about_y_np
from selfpose_ros.shapes.priors import load_prior
from selfpose_ros.shapes.templates import articulated_templates, shape_template_meshes, shape_templates
from selfpose_ros.train.config import config_from_dict
from selfpose_ros.train.crop_cache_build import shape_ranges
from selfpose_ros.train.pseudo_labels import _best_fit


def test_templates_are_repeatable_canonical_instances_that_differ():
    a, b = shape_templates("camera", 3, seed=0), shape_templates("camera", 3, seed=0)
    assert len(a) == 3 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], shape_templates("camera", 1, seed=1)[0])
    for v in a:  # the priors' frame: box centre at the origin, box diagonal 1
        lo, hi = v.min(0), v.max(0)
        assert np.abs((lo + hi) / 2).max() < 1e-6 and np.linalg.norm(hi - lo) == pytest.approx(1.0, abs=1e-6)
    assert not np.allclose(a[0].max(0) - a[0].min(0), a[1].max(0) - a[1].min(0), atol=1e-3)
    assert shape_templates("mug", 0) == []
    with pytest.raises(ValueError, match="unknown category"):
        shape_templates("chair", 1)
    with pytest.raises(ValueError, match=">= 0"):
        shape_templates("mug", -1)


def test_articulated_templates_move_one_joint_of_the_mean_instance_and_meshes_carry_faces():
    """The laptop's mean instance with its lid at 95 and 135 degrees: the priors' frame, a taller box for the more
    upright lid, a deeper one for the more open; the shape templates' meshes carry their faces."""
    (v95, f95), (v135, _) = articulated_templates("laptop", "lid_angle_deg", [95.0, 135.0])
    for v in (v95, v135):
        lo, hi = v.min(0), v.max(0)
        assert np.abs((lo + hi) / 2).max() < 1e-6 and np.linalg.norm(hi - lo) == pytest.approx(1.0, abs=1e-6)
    e95, e135 = np.ptp(v95, 0), np.ptp(v135, 0)
    assert e95[1] / e95[2] > 1.2 * e135[1] / e135[2]  # height over depth: the upright lid stands taller
    assert f95.ndim == 2 and f95.shape[1] == 3 and f95.max() < len(v95)
    (v, f), = shape_template_meshes("camera", 1)
    assert np.array_equal(v, shape_templates("camera", 1)[0]) and f.max() < len(v)
    with pytest.raises(ValueError):
        articulated_templates("laptop", "lid_angle_deg", [200.0])  # outside the parameter's range


def _far_template(prior: np.ndarray) -> np.ndarray:
    """The template whose box proportions differ most from the prior's."""
    ext = prior.max(0) - prior.min(0)
    return max(shape_templates("camera", 8, seed=3), key=lambda v: np.abs((v.max(0) - v.min(0)) - ext).sum())


def test_the_shape_closest_to_the_cloud_wins_and_sizes_the_label():
    prior = load_prior("camera")[0].astype(np.float64)
    other = _far_template(prior)
    R, s, t = rotation_about_y_np(np.deg2rad(40.0)), 0.16, np.array([0.1, 0.05, 0.6])
    points = (s * other @ R.T) + t  # the cloud of an instance shaped like ``other``, standing (+Y up)
    scale_range = tuple(float(x) for x in shape_ranges(["camera"], seed=0)[2][0])
    rng = np.random.default_rng(0)
    up = np.array([0.0, 1.0, 0.0])
    fit, _, shape = _best_fit([prior, other], points, up, 0.004, 3000, rng, "camera", scale_range)
    assert shape is other and fit.success
    alone, _, alone_shape = _best_fit([prior], points, up, 0.004, 3000, np.random.default_rng(0), "camera",
                                      scale_range)
    assert alone_shape is prior
    assert fit.extras["mean_truncated_distance_m"] < alone.extras["mean_truncated_distance_m"]
    angle = np.degrees(np.arccos(np.clip((np.trace(fit.rotation.T @ R) - 1) / 2, -1, 1)))
    assert angle < 5.0 and fit.scale == pytest.approx(s, rel=0.05)


def test_when_no_shape_fits_the_size_range_the_priors_result_is_returned():
    prior = load_prior("camera")[0].astype(np.float64)
    other = _far_template(prior)
    points = 0.16 * other + np.array([0.0, 0.0, 0.6])
    fit, _, shape = _best_fit([prior, other], points, np.array([0.0, 1.0, 0.0]), 0.004, 3000,
                              np.random.default_rng(0), "camera", (10.0, 20.0))  # a range nothing reaches
    assert shape is prior


def test_the_template_count_is_validated():
    data = {"bags": ["some_bag"], "crop_size": 256}
    assert config_from_dict({"data": data, "pseudo_labels": {"templates": 8}}).pseudo_labels.templates == 8
    with pytest.raises(ValueError, match="pseudo_labels.templates"):
        config_from_dict({"data": data, "pseudo_labels": {"templates": -1}})
