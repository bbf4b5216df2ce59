"""Multi-view pose consistency (symmetry aware) and the shape/pose regularisers."""

import math

import pytest
import torch
import trimesh

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.geometry.rotations import random_rotations, rotation_about_y
from selfpose_ros.losses.multiview_pose import pose_consistency_loss
from selfpose_ros.losses.regularisers import (
    deformation_loss,
    edges_from_faces,
    keep_in_front_loss,
    laplacian_loss,
    symmetry_loss,
    uniform_laplacian,
)


def _consistent_poses(B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    R_a = random_rotations(B, g, dtype=torch.float32)
    R_ba = random_rotations(B, g, dtype=torch.float32)
    t_a = torch.randn(B, 3, generator=g) * 0.2 + torch.tensor([0.0, 0.0, 3.0])
    t_ba = torch.randn(B, 3, generator=g) * 0.3
    scale = torch.rand(B, generator=g) + 0.1  # metres per canonical unit
    T_ba = torch.eye(4).repeat(B, 1, 1)
    T_ba[:, :3, :3], T_ba[:, :3, 3] = R_ba, t_ba
    R_b = R_ba @ R_a
    t_b = torch.einsum("bij,bj->bi", R_ba, t_a) + t_ba / scale.unsqueeze(-1)
    return R_a, t_a, R_b, t_b, T_ba, scale


def test_pose_consistency_zero_at_consistent_poses_with_finite_gradient():
    R_a, t_a, R_b, t_b, T_ba, s = _consistent_poses()
    R_a.requires_grad_(True)
    t_b.requires_grad_(True)
    loss = pose_consistency_loss(R_a, t_a, R_b, t_b, T_ba, s, "none")
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert torch.isfinite(R_a.grad).all() and torch.isfinite(t_b.grad).all()


def test_pose_consistency_penalises_rotation_and_translation_errors():
    R_a, t_a, R_b, t_b, T_ba, s = _consistent_poses()
    twist = rotation_about_y(torch.tensor(0.5)).float()
    rot_err = pose_consistency_loss(R_a, t_a, R_b @ twist, t_b, T_ba, s, "none").item()
    assert rot_err == pytest.approx(math.sin(0.25) ** 2, rel=1e-4)  # sin^2(theta / 2)
    trans_err = pose_consistency_loss(R_a, t_a, R_b, t_b + torch.tensor([0.1, 0.0, 0.0]), T_ba, s, "none")
    assert trans_err.item() == pytest.approx(0.01, rel=1e-4)


def test_pose_consistency_continuous_symmetry_compares_only_y_axes():
    R_a, t_a, R_b, t_b, T_ba, s = _consistent_poses()
    about_y = rotation_about_y(torch.tensor(1.1)).float()
    assert pose_consistency_loss(R_a, t_a, R_b @ about_y, t_b, T_ba, s, "continuous_y").item() == pytest.approx(
        0.0, abs=1e-6
    )
    tilt = torch.tensor([[1.0, 0, 0], [0, math.cos(0.3), -math.sin(0.3)], [0, math.sin(0.3), math.cos(0.3)]])
    tilted = pose_consistency_loss(R_a, t_a, R_b @ tilt, t_b, T_ba, s, ["continuous_y"] * 3)
    assert tilted.item() == pytest.approx((1 - math.cos(0.3)) / 2, rel=1e-4)
    # a mirror symmetry is not a rotation: the full term stays
    assert pose_consistency_loss(R_a, t_a, R_b @ about_y, t_b, T_ba, s, SYMMETRY["mug"]).item() > 0.1


def test_pose_consistency_rejects_bad_input():
    R_a, t_a, R_b, t_b, T_ba, s = _consistent_poses()
    with pytest.raises(ValueError, match="symmetry"):
        pose_consistency_loss(R_a, t_a, R_b, t_b, T_ba, s, "spherical")
    with pytest.raises(ValueError, match="scale"):
        pose_consistency_loss(R_a, t_a, R_b, t_b, T_ba, -s, "none")
    with pytest.raises(ValueError, match="T_ba"):
        pose_consistency_loss(R_a, t_a, R_b, t_b, T_ba[:, :3], s, "none")


def test_deformation_loss_zero_at_rest_and_huber_beyond():
    offsets = torch.zeros(2, 5, 3, requires_grad=True)
    loss = deformation_loss(offsets)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(offsets.grad).all()
    big = torch.zeros(1, 2, 3)
    big[0, 0, 0] = 1.0
    assert deformation_loss(big, beta=0.1).item() == pytest.approx((1.0 - 0.05) / 2)
    valid = torch.tensor([[False, True]])
    assert deformation_loss(big, valid).item() == 0.0


def _ico(sub=2):
    m = trimesh.creation.icosphere(subdivisions=sub)
    return torch.tensor(m.vertices, dtype=torch.float32).unsqueeze(0) * 0.5, torch.tensor(m.faces)


def test_laplacian_is_translation_invariant_and_prefers_smooth_meshes():
    v, f = _ico()
    e = edges_from_faces(f)
    assert e.shape == (480, 2) and torch.all(e[:, 0] < e[:, 1])  # V - E + F = 2 for 162 / 320
    shifted = v + torch.tensor([0.3, -1.0, 2.0])
    assert torch.allclose(uniform_laplacian(shifted, e), uniform_laplacian(v, e), atol=1e-5)
    assert laplacian_loss(torch.full_like(v, 0.7), f).item() == pytest.approx(0.0, abs=1e-10)
    noisy = (v + 0.03 * torch.randn(v.shape, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    loss = laplacian_loss(noisy, f)
    assert loss.item() > 2 * laplacian_loss(v, f).item()
    loss.backward()
    assert torch.isfinite(noisy.grad).all()


def _ring(n=8, k=3):
    angles = torch.arange(n) * 2 * math.pi / n
    rings = [
        torch.stack((r * torch.cos(angles), torch.full((n,), y), r * torch.sin(angles)), -1)
        for r, y in ((0.3, -0.2), (0.2, 0.0), (0.25, 0.3))[:k]
    ]
    return torch.cat(rings).unsqueeze(0)


def test_symmetry_loss_zero_for_symmetric_shapes_positive_otherwise():
    ring = _ring().requires_grad_(True)
    loss = symmetry_loss(ring, "continuous_y", n_rotations=8)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    loss.backward()
    assert torch.isfinite(ring.grad).all()
    box = torch.tensor(trimesh.creation.box(extents=(0.6, 0.4, 0.2)).vertices, dtype=torch.float32).unsqueeze(0)
    assert symmetry_loss(box, "mirror_x").item() == pytest.approx(0.0, abs=1e-10)
    assert symmetry_loss(box, "mirror_z").item() == pytest.approx(0.0, abs=1e-10)
    lopsided = box.clone()
    lopsided[0, lopsided[0, :, 0] > 0, 0] += 0.3  # stretch only the +x side
    assert symmetry_loss(lopsided, "mirror_x").item() > 0.01
    assert symmetry_loss(lopsided, "mirror_z").item() == pytest.approx(0.0, abs=1e-10)
    assert symmetry_loss(box, "continuous_y").item() > 0.001  # a box is not round
    assert symmetry_loss(lopsided, SYMMETRY["camera"]).item() == 0.0
    with pytest.raises(ValueError, match="symmetry kind"):
        symmetry_loss(box, "mirror_y")


def test_keep_in_front():
    t = torch.tensor([[0.0, 0.0, 2.0], [0.1, 0.0, 0.4]], requires_grad=True)
    loss = keep_in_front_loss(t)
    assert loss.item() == pytest.approx(0.3)
    loss.backward()
    assert t.grad[1, 2].item() == pytest.approx(-0.5) and t.grad[0, 2].item() == 0.0
    assert keep_in_front_loss(t, min_depth=0.3).item() == 0.0
