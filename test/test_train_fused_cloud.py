"""The object's own points of a bleeding mask (core, support layer, 3D components) and the multi-view filter."""

import cv2
import numpy as np

from selfpose_ros.train.fused_cloud import consistent_points, core_points, drop_support

K = np.array([[200.0, 0, 64], [0, 200.0, 64], [0, 0, 1]])


def _scene():
    """A 20x30 px object 1.0 m away, a neighbour 1.02 m away 6 px to its right, a wall at 1.3 m."""
    depth = np.full((128, 128), 1.3, np.float32)
    obj = np.zeros((128, 128), bool)
    obj[50:80, 40:60] = True
    depth[obj] = 1.0
    depth[50:80, 66:90] = 1.02  # the neighbour
    bled = cv2.dilate(obj.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)  # 7 px onto both
    return depth, obj, bled


def test_core_points_drop_the_wall_and_the_neighbour_a_bleeding_mask_reaches():
    depth, obj, bled = _scene()
    raw = bled & (depth > 0)
    pts = core_points(depth, bled, K, max_radius=0.2)
    assert 0.9 * obj.sum() <= len(pts) <= obj.sum() and np.allclose(pts[:, 2], 1.0)
    assert raw.sum() > 1.5 * obj.sum()  # the test is not trivial: the mask holds many foreign pixels


def test_support_layer_and_multi_view_agreement():
    rng = np.random.default_rng(0)
    obj = rng.uniform([-0.05, -0.05, 0.0], [0.05, 0.05, 0.1], (500, 3))
    table = np.c_[rng.uniform(-0.2, 0.2, (200, 2)), np.zeros(200)]
    kept = drop_support(np.concatenate((obj, table)), np.array([0, 0, 1.0]))
    assert len(kept) >= 0.9 * len(obj) and (kept[:, 2] > 0.004).all()
    views = [obj + rng.normal(0, 0.001, obj.shape) for _ in range(4)]
    junk = [rng.uniform(-1, 1, (30, 3)) + 2.0 for _ in range(4)]  # different in every view
    fused = consistent_points([np.concatenate((v, j)) for v, j in zip(views, junk)], min_frames=2)
    assert len(fused) >= 0.9 * 4 * len(obj) and (np.abs(fused) < 0.2).all()
    assert len(consistent_points([views[0]], min_frames=2)) == len(obj)  # one view: nothing to agree with
