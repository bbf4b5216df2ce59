"""Model surface facing the camera that it sees through (geometry.free_space)."""

import numpy as np

from selfpose_ros.geometry.free_space import facing_seen_through, seen_through_share

K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 50.0], [0.0, 0.0, 1.0]])


def _plate(z: float, n: int = 400, normal_z: float = -1.0):
    """Points of a 0.2 m square plate at depth z facing the camera (normal -z), and their normals."""
    g = np.linspace(-0.1, 0.1, int(np.sqrt(n)))
    x, y = np.meshgrid(g, g)
    pts = np.column_stack((x.ravel(), y.ravel(), np.full(x.size, z)))
    return pts, np.tile([0.0, 0.0, normal_z], (len(pts), 1))


def test_points_in_front_of_a_farther_free_reading_are_seen_through_and_others_not():
    depth = np.full((100, 100), 2.0)
    free = np.ones((100, 100), bool)
    pts, nrm = _plate(1.0)
    idx, facing = facing_seen_through(pts, nrm, depth, K, free, 0.02)
    assert facing == len(pts) and len(idx) == len(pts)  # the camera sees the wall 1 m behind every point
    depth[:] = 1.01  # the reading is the plate itself (within the margin): nothing seen through
    assert len(facing_seen_through(pts, nrm, depth, K, free, 0.02)[0]) == 0
    depth[:] = 0.5  # an occluder in front hides the plate: not seen through either
    assert len(facing_seen_through(pts, nrm, depth, K, free, 0.02)[0]) == 0
    depth[:] = 2.0
    free[:, :50] = False  # pixels next to the object's own surface never count
    idx, _ = facing_seen_through(pts, nrm, depth, K, free, 0.02)
    assert 0 < len(idx) < len(pts) and np.all(pts[idx, 0] >= 0.0)
    depth[:, 75:] = np.nan  # no reading: no evidence
    idx, _ = facing_seen_through(pts, nrm, depth, K, free, 0.02)
    u = pts[idx, 0] / pts[idx, 2] * 100.0 + 50.0
    assert len(idx) and np.all(np.round(u) < 75)


def test_back_faces_and_points_outside_the_image_do_not_count_and_the_share_places_the_model():
    depth, free = np.full((100, 100), 2.0), np.ones((100, 100), bool)
    pts, nrm = _plate(1.0, normal_z=1.0)  # facing away from the camera
    idx, facing = facing_seen_through(pts, nrm, depth, K, free, 0.02)
    assert len(idx) == 0 and facing == 0
    assert seen_through_share(pts, nrm, 1.0, np.eye(3), np.zeros(3), depth, K, free, 0.02) == 0.0
    pts, nrm = _plate(0.0)  # canonical plate at the origin, placed 1 m away and shifted half out of the image
    share = seen_through_share(pts, nrm, 1.0, np.eye(3), np.array([0.5, 0.0, 1.0]), depth, K, free, 0.02)
    assert share == 1.0  # of the facing points inside the image, all are seen through
    assert facing_seen_through(pts + [0.5, 0.0, 1.0], nrm, depth, K, free, 0.02)[1] < len(pts)
