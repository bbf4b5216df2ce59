"""Rotation representations and similarity transforms: round trips, known values, numpy wrappers."""

import math

import numpy as np
import pytest
import torch

from selfpose_ros.geometry.rotations import (
    axis_angle_to_matrix,
    is_rotation_np,
    matrix_to_quaternion,
    matrix_to_quaternion_np,
    matrix_to_rotation_6d,
    project_to_rotation,
    quaternion_to_matrix,
    quaternion_to_matrix_np,
    random_rotations,
    relative_rotation_angle,
    rotation_6d_to_matrix,
    rotation_about_y,
    rotation_angle,
)
from selfpose_ros.geometry.transforms import (
    apply_similarity,
    apply_similarity_np,
    compose_similarity,
    invert_similarity,
    matrix_to_similarity,
    similarity_to_matrix,
)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def _assert_rotations(R):
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, eye, atol=1e-10, rtol=0)
    torch.testing.assert_close(torch.det(R), torch.ones(R.shape[:-2], dtype=R.dtype), atol=1e-10, rtol=0)


def test_6d_round_trip_and_gram_schmidt(gen):
    R = random_rotations(64, gen)
    torch.testing.assert_close(rotation_6d_to_matrix(matrix_to_rotation_6d(R)), R, atol=1e-12, rtol=0)
    assert torch.equal(matrix_to_rotation_6d(R)[:, :3], R[:, :, 0])  # first column first
    raw = torch.randn(5, 7, 6, generator=gen, dtype=torch.float64)  # unnormalised, batched
    out = rotation_6d_to_matrix(raw)
    assert out.shape == (5, 7, 3, 3)
    _assert_rotations(out)
    # Gram-Schmidt keeps the direction of the first column.
    torch.testing.assert_close(out[..., :, 0], raw[..., :3] / raw[..., :3].norm(dim=-1, keepdim=True))


def test_quaternion_is_xyzw_and_round_trips(gen):
    q = torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)], dtype=torch.float64)
    Rz90 = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(quaternion_to_matrix(q), Rz90, atol=1e-12, rtol=0)
    torch.testing.assert_close(matrix_to_quaternion(Rz90), q, atol=1e-12, rtol=0)
    R = random_rotations(200, gen)
    qs = matrix_to_quaternion(R)
    assert bool((qs[:, 3] >= 0).all())
    torch.testing.assert_close(quaternion_to_matrix(qs), R, atol=1e-12, rtol=0)
    # 180-degree rotations (w = 0) are the hard case for naive formulas.
    for axis in torch.eye(3, dtype=torch.float64):
        R180 = axis_angle_to_matrix(math.pi * axis)
        torch.testing.assert_close(quaternion_to_matrix(matrix_to_quaternion(R180)), R180, atol=1e-12, rtol=0)


def test_angles_and_projection(gen):
    angles = torch.tensor([0.0, 1e-7, 0.3, 2.0, math.pi - 1e-6], dtype=torch.float64)
    R = rotation_about_y(angles)
    torch.testing.assert_close(rotation_angle(R), angles, atol=1e-9, rtol=0)
    A, B = random_rotations(10, gen), random_rotations(10, gen)
    torch.testing.assert_close(relative_rotation_angle(A, B), relative_rotation_angle(B, A))
    noisy = A + 0.01 * torch.randn(10, 3, 3, generator=gen, dtype=torch.float64)
    _assert_rotations(project_to_rotation(noisy))
    reflected = A @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))
    _assert_rotations(project_to_rotation(reflected))


def test_numpy_wrappers_and_validation():
    q = np.array([0.1, -0.2, 0.3, 0.9])
    R = quaternion_to_matrix_np(q)
    assert is_rotation_np(R) and not is_rotation_np(np.diag([1.0, 1.0, -1.0]))
    np.testing.assert_allclose(matrix_to_quaternion_np(R), q / np.linalg.norm(q), atol=1e-12)
    with pytest.raises(ValueError, match="zero norm"):
        quaternion_to_matrix(torch.zeros(4))
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        rotation_6d_to_matrix(torch.zeros(3, 5))


def test_similarity_compose_invert_apply(gen):
    n = 8
    a = (torch.rand(n, generator=gen, dtype=torch.float64) + 0.5, random_rotations(n, gen),
         torch.randn(n, 3, generator=gen, dtype=torch.float64))
    b = (torch.rand(n, generator=gen, dtype=torch.float64) + 0.5, random_rotations(n, gen),
         torch.randn(n, 3, generator=gen, dtype=torch.float64))
    pts = torch.randn(n, 20, 3, generator=gen, dtype=torch.float64)
    ab = compose_similarity(a, b)
    torch.testing.assert_close(apply_similarity(*ab, pts), apply_similarity(*a, apply_similarity(*b, pts)))
    inv = invert_similarity(*a)
    torch.testing.assert_close(apply_similarity(*inv, apply_similarity(*a, pts)), pts)
    T = similarity_to_matrix(*a)
    homog = torch.cat((pts, torch.ones(n, 20, 1, dtype=torch.float64)), -1)
    torch.testing.assert_close((homog @ T.transpose(-1, -2))[..., :3], apply_similarity(*a, pts))
    for got, want in zip(matrix_to_similarity(T), a, strict=True):
        torch.testing.assert_close(got, want)
    out = apply_similarity_np(2.0, np.eye(3), np.array([1.0, 0, 0]), np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(out, [[3.0, 4.0, 6.0]])
    with pytest.raises(ValueError, match="zero scale"):
        invert_similarity(torch.zeros(()), torch.eye(3), torch.zeros(3))
