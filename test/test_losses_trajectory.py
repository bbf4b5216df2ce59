"""Trajectory regularisation, VICReg, the relative-viewpoint InfoNCE, keypoint heatmaps and loss weights."""

import dataclasses

import pytest
import torch

from selfpose_ros.losses.contrastive import relative_viewpoint_infonce
from selfpose_ros.losses.keypoints import keypoint_heatmap_loss
from selfpose_ros.losses.trajectory import trajectory_loss, vicreg_loss, vicreg_terms
from selfpose_ros.losses.weights import LossWeights


def test_trajectory_loss_prefers_collinear_embeddings():
    g = torch.Generator().manual_seed(0)
    z_l = torch.randn(4, 8, generator=g)
    step = torch.randn(4, 8, generator=g)
    assert trajectory_loss(z_l, z_l + step, z_l + 2.5 * step).item() == pytest.approx(-1.0, abs=1e-6)
    assert trajectory_loss(z_l, z_l + step, z_l).item() == pytest.approx(1.0, abs=1e-6)  # reversed
    perp = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    assert trajectory_loss(*perp).item() == pytest.approx(0.0, abs=1e-6)
    bent = z_l + step + torch.randn(4, 8, generator=g)
    z_c = (z_l + step).requires_grad_(True)
    loss = trajectory_loss(z_l, z_c, bent)
    assert -1.0 < loss.item() < 1.0
    loss.backward()
    assert torch.isfinite(z_c.grad).all() and z_c.grad.abs().sum() > 0


def test_vicreg_terms():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(256, 8, generator=g) * 2.0
    t = vicreg_terms(z, z.clone())
    assert t["sim"].item() == 0.0
    assert t["var"].item() == pytest.approx(0.0, abs=1e-6)  # std ~2 > 1 in every dimension
    assert t["cov"].item() < 2.0  # sampling noise only
    collapsed = torch.ones(256, 8) + 1e-3 * torch.randn(256, 8, generator=g)
    assert vicreg_terms(collapsed, collapsed)["var"].item() > 1.9  # both branches near std 0
    correlated = torch.randn(256, 1, generator=g).expand(256, 8) * 2.0
    assert vicreg_terms(correlated, correlated)["cov"].item() > 10 * t["cov"].item()
    z1 = torch.randn(16, 8, generator=g, requires_grad=True)
    z2 = torch.randn(16, 8, generator=g)
    loss = vicreg_loss(z1, z2)
    parts = vicreg_terms(z1, z2)  # default weights 25 / 25 / 1
    assert loss.item() == pytest.approx((25 * parts["sim"] + 25 * parts["var"] + parts["cov"]).item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(z1.grad).all()
    with pytest.raises(ValueError, match="at least 2"):
        vicreg_terms(z[:1], z[:1])


def test_relative_viewpoint_infonce_prefers_trajectory_ordered_embeddings():
    g = torch.Generator().manual_seed(0)
    T = 12
    pos = torch.arange(T, dtype=torch.float32).unsqueeze(0)
    angle = pos[0] * 0.25
    ordered = torch.stack((torch.cos(angle), torch.sin(angle), torch.zeros(T)), -1).unsqueeze(0)
    shuffled = ordered[:, torch.randperm(T, generator=g)]
    good = relative_viewpoint_infonce(ordered, pos, near=1, far=4)
    bad = relative_viewpoint_infonce(shuffled, pos, near=1, far=4)
    assert good.item() < bad.item()
    z = ordered.clone().requires_grad_(True)
    relative_viewpoint_infonce(z, pos, near=1, far=4).backward()
    assert torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="no anchor"):
        relative_viewpoint_infonce(ordered, pos, near=1, far=100)
    with pytest.raises(ValueError, match="near < far"):
        relative_viewpoint_infonce(ordered, pos, near=5, far=4)


def test_keypoint_heatmap_loss_minimal_at_target():
    target = torch.zeros(1, 2, 4, 4)
    target[0, 0, 1, 2] = 1.0
    target[0, 1, 3, 0] = 1.0
    good = (target * 20 - 10).requires_grad_(True)
    loss = keypoint_heatmap_loss(good, target)
    assert loss.item() < 1e-8
    loss.backward()
    assert torch.isfinite(good.grad).all()
    assert keypoint_heatmap_loss(torch.zeros(1, 2, 4, 4), target).item() > 0.2
    assert keypoint_heatmap_loss(good.detach(), target, torch.tensor([[1.0, 0.0]])).item() < 1e-8


def test_loss_weights_defaults_schedule_and_validation():
    w = LossWeights()
    assert (w.mask, w.texture, w.depth, w.match, w.imatch) == (0.15, 0.05, 0.1, 0.02, 0.02)
    assert (w.symmetry, w.keep_in_front, w.deformation, w.traj) == (0.5, 0.01, 0.4, 0.1)
    assert w.laplacian(642) == pytest.approx(0.002 * 642 / 64)
    start, end = w.scheduled(0.0), w.scheduled(1.0)
    assert start.deformation == pytest.approx(0.4) and end.deformation == pytest.approx(0.04)
    assert start.match == pytest.approx(0.002) and end.match == pytest.approx(0.02)
    assert end.mask == w.mask and end.laplacian(64) == pytest.approx(0.0002)
    assert dataclasses.replace(w, traj=0.2).traj == 0.2
    with pytest.raises(ValueError, match="mask"):
        LossWeights(mask=-1.0)
    with pytest.raises(ValueError, match="progress"):
        w.scheduled(1.5)
