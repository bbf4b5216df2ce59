"""The mug-handle visibility test on observed points of a real mug instance seen from the handle's side and from
the opposite side (a z-buffer keeps only the surface the camera sees)."""

import numpy as np
import pytest
from builders import seen_surface

from selfpose_ros.geometry.rotations import rotation_about_y_np
from selfpose_ros.shapes.handle import handle_region, handle_seen_in_points, handle_visible
from selfpose_ros.shapes.registry import mean_instance

SCALE = 0.12  # metres per canonical unit


@pytest.fixture(scope="module")
def mug():
    inst = mean_instance("mug")
    pts = inst.mesh.sample(40000, return_index=False, seed=0)
    return np.asarray(pts), inst.extents * SCALE


@pytest.mark.parametrize("yaw_deg, visible", [(0.0, True), (30.0, True), (180.0, False), (150.0, False)])
def test_handle_is_seen_from_its_side_and_hidden_from_the_other(mug, yaw_deg, visible):
    pts, size = mug
    # camera looks along +z with y down; the mug stands upright 0.6 m away, its handle (canonical +X) turned
    # towards the camera (yaw 0) or by yaw_deg from there about the vertical
    R = np.diag([1.0, -1.0, -1.0]) @ rotation_about_y_np(np.radians(yaw_deg - 90.0))
    t = np.array([0.0, 0.0, 0.6])
    cam = (pts * SCALE) @ R.T + t
    seen = seen_surface(cam, cell=0.002, distance=0.6)
    assert handle_seen_in_points(seen, R, t, size) is visible


def test_a_box_with_no_room_for_a_handle_and_empty_or_invalid_input_see_none(mug):
    pts, size = mug
    assert not handle_region(np.array([[0.05, 0.0, 0.0]]), np.array([0.08, 0.1, 0.08])).any()
    assert not handle_seen_in_points(np.zeros((0, 3)), np.eye(3), np.zeros(3), size)
    assert not handle_seen_in_points(pts, np.eye(3), np.zeros(3), np.array([np.nan, 1, 1]))


def test_handle_visible_reads_a_depth_image_and_the_instance_mask():
    K = np.array([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]])
    depth = np.zeros((64, 64), np.float32)
    mask = np.zeros((64, 64), bool)
    assert not handle_visible(np.eye(3), np.array([0, 0, 0.5]), np.array([0.1, 0.1, 0.07]), depth, mask, K)


def test_table_points_in_the_handles_footprint_are_not_the_handle(mug):
    # a mask that bleeds onto the table puts points at the box's bottom, beside the body on the handle's side
    pts, size = mug
    sx, sy, sz = size
    rng = np.random.default_rng(0)
    n = 200
    x = rng.uniform(-0.5 * sx + 1.1 * sz, 0.5 * sx, n)
    table = np.stack([x, np.full(n, -0.5 * sy + 0.003), rng.uniform(-0.4 * sz, 0.4 * sz, n)], 1)
    assert not handle_region(table, size).any()
    middle = table + np.array([0.0, 0.5 * sy, 0.0])  # the same footprint halfway up: where a handle is
    assert handle_region(middle, size).all()
    body = np.stack([np.zeros(n), rng.uniform(-0.5 * sy, 0.5 * sy, n), np.zeros(n)], 1) - [0.5 * sx - 0.5 * sz, 0, 0]
    assert not handle_seen_in_points(np.concatenate([body, table]), np.eye(3), np.zeros(3), size)
    assert handle_seen_in_points(np.concatenate([body, middle]), np.eye(3), np.zeros(3), size)
