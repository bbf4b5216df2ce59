"""Exact oriented-box IoU: analytic cases, Monte-Carlo agreement, symmetry in arguments and of shapes."""

import math

import numpy as np
import pytest

from selfpose_ros.eval.box_iou import OrientedBox, box_iou, intersection_volume, symmetric_box_iou
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np, rotation_about_y_np

I3 = np.eye(3)


def test_identical_disjoint_touching_and_nested():
    R = quaternion_to_matrix_np(np.array([0.3, -0.2, 0.5, 0.7]))
    a = OrientedBox(R, [0.1, 0.2, 0.9], [0.2, 0.1, 0.3])
    assert box_iou(a, a) == pytest.approx(1.0, abs=1e-12)
    assert box_iou(OrientedBox(I3, [0, 0, 0], [1, 1, 1]), OrientedBox(I3, [3, 0, 0], [1, 1, 1])) == 0.0
    assert box_iou(OrientedBox(I3, [0, 0, 0], [1, 1, 1]), OrientedBox(I3, [1, 0, 0], [1, 1, 1])) == 0.0  # touching
    big, small = OrientedBox(I3, [0, 0, 0], [2, 2, 2]), OrientedBox(R, [0.1, 0, 0], [0.5, 0.5, 0.5])
    assert box_iou(big, small) == pytest.approx(0.125 / 8.0, rel=1e-12)


def test_half_shift_is_one_third():
    for axis in range(3):
        shift = np.zeros(3)
        shift[axis] = 0.5
        a = OrientedBox(I3, [0, 0, 0], [1, 1, 1])
        assert box_iou(a, OrientedBox(I3, shift, [1, 1, 1])) == pytest.approx(1 / 3, abs=1e-12)
    # Also for a rotated, non-cubic pair shifted by half a side along their shared axis.
    R = quaternion_to_matrix_np(np.array([0.1, 0.2, 0.3, 0.9]))
    a = OrientedBox(R, [0, 0, 1], [0.4, 0.2, 0.3])
    b = OrientedBox(R, np.array([0, 0, 1]) + R[:, 1] * 0.1, [0.4, 0.2, 0.3])
    assert box_iou(a, b) == pytest.approx(1 / 3, abs=1e-12)


def test_rotated_45_degrees_octagon():
    octagon = 2.0 * (math.sqrt(2.0) - 1.0)  # unit square intersected with itself turned 45 degrees
    for height in (1.0, 0.3):
        a = OrientedBox(I3, [0, 0, 0], [1, height, 1])
        b = OrientedBox(rotation_about_y_np(math.pi / 4), [0, 0, 0], [1, height, 1])
        inter = octagon * height
        assert intersection_volume(a, b) == pytest.approx(inter, rel=1e-12)
        assert box_iou(a, b) == pytest.approx(inter / (2 * height - inter), rel=1e-12)


def _random_box(rng):
    return OrientedBox(quaternion_to_matrix_np(rng.normal(size=4)), rng.normal(scale=0.05, size=3),
                       rng.uniform(0.1, 0.4, size=3))


def _monte_carlo_iou(a: OrientedBox, b: OrientedBox, rng, n=1_000_000):
    local = rng.uniform(-0.5, 0.5, size=(n, 3)) * a.size
    inside = b.contains(np.einsum("nj,ij->ni", local, a.R) + a.t).mean()
    inter = a.volume * inside
    return inter / (a.volume + b.volume - inter)


def test_agrees_with_monte_carlo_and_is_symmetric():
    rng = np.random.default_rng(42)
    checked = 0
    while checked < 6:
        a, b = _random_box(rng), _random_box(rng)
        exact = box_iou(a, b)
        assert box_iou(b, a) == pytest.approx(exact, abs=1e-12)
        if exact < 0.05:
            continue
        assert _monte_carlo_iou(a, b, rng) == pytest.approx(exact, rel=0.01)
        checked += 1


def test_symmetric_iou_over_rotations_about_y():
    R = quaternion_to_matrix_np(np.array([0.2, 0.1, -0.4, 0.8]))
    gt = OrientedBox(R, [0.0, 0.1, 0.8], [0.3, 0.2, 0.15])
    turned = OrientedBox(R @ rotation_about_y_np(1.1), gt.t, gt.size)
    assert box_iou(turned, gt) < 0.8
    assert symmetric_box_iou(turned, gt, "continuous_y") == pytest.approx(1.0, abs=1e-5)
    assert symmetric_box_iou(turned, gt, "none") == pytest.approx(box_iou(turned, gt))
    assert symmetric_box_iou(turned, gt, "mirror_z") == pytest.approx(box_iou(turned, gt))
    flipped = OrientedBox(R @ rotation_about_y_np(math.pi), [0.02, 0.1, 0.8], gt.size)
    assert symmetric_box_iou(flipped, gt, "flip_y") == pytest.approx(box_iou(flipped, gt))  # box is flip-invariant
    square = OrientedBox(R @ rotation_about_y_np(0.3), gt.t, [0.2, 0.3, 0.2])
    square_gt = OrientedBox(R, gt.t, [0.2, 0.3, 0.2])
    assert symmetric_box_iou(square, square_gt, "continuous_y") == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="symmetry"):
        symmetric_box_iou(gt, gt, "spiral")


def test_bad_box_raises():
    with pytest.raises(ValueError, match="size"):
        OrientedBox(I3, [0, 0, 0], [1, 0, 1])
