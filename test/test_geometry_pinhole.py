"""Pinhole back-projection: by mask and by pixel index give the same points, and bad input is refused."""

import numpy as np
import pytest

from selfpose_ros.geometry.pinhole import backproject_np, backproject_pixels, project_np, valid_pixels

K = np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]])


def _depth() -> np.ndarray:
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.4, 2.0, (48, 64)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = np.nan  # holes
    depth[rng.random(depth.shape) < 0.05] = 0.0  # no reading
    return depth


def test_pixels_and_mask_give_the_same_points_in_the_same_order():
    depth = _depth()
    mask = np.zeros(depth.shape, bool)
    mask[10:30, 5:50] = True
    pixels = valid_pixels(depth, mask)
    assert np.isfinite(depth.ravel()[pixels]).all() and (depth.ravel()[pixels] > 0).all()
    assert len(pixels) == int((mask & np.isfinite(depth) & (depth > 0)).sum())
    np.testing.assert_array_equal(backproject_pixels(depth, K, pixels), backproject_np(depth, K, mask))
    thinned = pixels[::7]  # a subset back-projects to the same subset of points
    np.testing.assert_array_equal(backproject_pixels(depth, K, thinned), backproject_np(depth, K, mask)[::7])


def test_back_projected_pixels_project_back_onto_themselves():
    depth = _depth()
    pixels = valid_pixels(depth, np.ones(depth.shape, bool))
    uv = project_np(backproject_pixels(depth, K, pixels), K)
    v, u = np.divmod(pixels, depth.shape[1])
    np.testing.assert_allclose(uv, np.stack([u, v], 1), atol=1e-6)


def test_a_mask_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        valid_pixels(_depth(), np.ones((10, 10), bool))
