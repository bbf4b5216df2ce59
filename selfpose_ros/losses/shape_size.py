"""Instance shape terms: per-axis proportions against the fused cloud's box, plausibility, handle visibility.

Proportions are unit-diagonal box extents ``e / |e|`` (the NOCS canonical frame has a unit box diagonal), so
the overall size stays the pose's scale and only the shape's *proportions* are supervised: a tall drink can
and a squat tin differ in them, not in their canonical diagonal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shape_size_loss(pred_extents: torch.Tensor, target_extents: torch.Tensor, valid: torch.Tensor,
                    beta: float = 0.05) -> torch.Tensor:
    """Mean over valid samples of smooth-L1 between log unit-diagonal extents (B,3): predicted vs target.

    ``target_extents`` may be metric (any scale): it is normalised to a unit diagonal here.
    """
    if pred_extents.shape != target_extents.shape or pred_extents.shape[-1] != 3:
        raise ValueError(f"extents must both be (B,3), got {tuple(pred_extents.shape)}, {tuple(target_extents.shape)}")
    ok = valid & torch.isfinite(target_extents).all(1) & (target_extents > 0).all(1)
    if not ok.any():
        return pred_extents.sum() * 0.0
    tgt = target_extents[ok] / target_extents[ok].norm(dim=1, keepdim=True)
    pred = pred_extents[ok].clamp(min=1e-6)
    return F.smooth_l1_loss(pred.log(), tgt.log(), reduction="none", beta=beta).sum(1).mean()


def shape_plausibility_loss(pred_extents: torch.Tensor, log_lo: torch.Tensor, log_hi: torch.Tensor) -> torch.Tensor:
    """Mean squared distance (B,3 -> scalar) of log unit-diagonal extents outside [log_lo, log_hi] (0 inside)."""
    if not pred_extents.shape == log_lo.shape == log_hi.shape:
        raise ValueError("extents and their bounds must have one shape")
    x = pred_extents.clamp(min=1e-6).log()
    return (F.relu(log_lo - x) ** 2 + F.relu(x - log_hi) ** 2).sum(1).mean()


def handle_visibility_loss(logit: torch.Tensor, visible: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of handle-visible logits (B,) against flags (B,) over valid samples (0 if none)."""
    if not valid.any():
        return logit.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logit[valid], visible[valid].to(logit))
