"""Keypoint heatmap loss against CSE proxy targets (Gharaee et al.: weighted least squares)."""

from __future__ import annotations

import torch

from selfpose_ros.losses._checks import check_shape, weighted_mean


def keypoint_heatmap_loss(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over keypoints of mean_pixels (sigmoid(logits) - target)^2; logits/targets (B,K,h,w), weight (B,K)."""
    check_shape("logits", logits, (None, None, None, None))
    if targets.shape != logits.shape:
        raise ValueError(f"targets {tuple(targets.shape)} differ from logits {tuple(logits.shape)}")
    per_kp = ((torch.sigmoid(logits) - targets.detach()) ** 2).flatten(2).mean(-1)
    w = torch.ones_like(per_kp) if weight is None else weight
    check_shape("weight", w, tuple(per_kp.shape))
    return weighted_mean(per_kp, w)
