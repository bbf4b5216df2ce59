"""Viewpoint-trajectory regularisation (Wang, Chen, Yu) and the VICReg invariance loss it is added to."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfpose_ros.losses._checks import check_shape


def trajectory_loss(
    z_left: torch.Tensor, z_centre: torch.Tensor, z_right: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """L_traj = -cos(z_C - z_L, z_R - z_C), mean over the batch: -1 for collinear, ordered embeddings."""
    check_shape("z_left", z_left, (None, None))
    if z_centre.shape != z_left.shape or z_right.shape != z_left.shape:
        raise ValueError("trajectory embeddings must share one (B,D) shape")
    return -F.cosine_similarity(z_centre - z_left, z_right - z_centre, dim=-1, eps=eps).mean()


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> dict[str, torch.Tensor]:
    """The three unweighted VICReg terms of two (B,D) embedding batches: 'sim', 'var' and 'cov'."""
    check_shape("z1", z1, (None, None))
    if z2.shape != z1.shape:
        raise ValueError(f"z1 and z2 differ in shape: {tuple(z1.shape)} vs {tuple(z2.shape)}")
    B, D = z1.shape
    if B < 2:
        raise ValueError("VICReg needs a batch of at least 2")
    sim = F.mse_loss(z1, z2)
    var = z1.new_zeros(())
    cov = z1.new_zeros(())
    for z in (z1, z2):
        zc = z - z.mean(dim=0)
        std = torch.sqrt(zc.var(dim=0) + eps)
        var = var + torch.relu(gamma - std).mean()
        c = (zc.T @ zc) / (B - 1)
        off = c - torch.diag(torch.diagonal(c))
        cov = cov + (off**2).sum() / D
    return {"sim": sim, "var": var, "cov": cov}


def vicreg_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
) -> torch.Tensor:
    """VICReg: 25 * invariance MSE + 25 * variance hinge + 1 * off-diagonal covariance (weights configurable)."""
    t = vicreg_terms(z1, z2)
    return sim_weight * t["sim"] + var_weight * t["var"] + cov_weight * t["cov"]
