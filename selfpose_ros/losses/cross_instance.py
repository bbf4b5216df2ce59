"""Cross-instance cycle with an EMA teacher (CSE eq. 5-6; DINO matches replaced by the teacher's own).

Pairs: mutual nearest neighbours between two crops' teacher pixel embeddings, the k most similar kept.
Loss: the forward half of the 4-step cycle, pixel a (instance A) -> vertices (A's distribution moved to
B's mesh through the shared vertex indices) -> expected pixel of B, must land on a's teacher match b.
Both instances must be of the same category (same vertex indexing).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from selfpose_ros.losses._checks import check_shape
from selfpose_ros.losses.cycle_transfer import forward_cycle_loss


class EMATeacher:
    """A frozen copy of a model whose weights follow the student: p_t <- m p_t + (1 - m) p_s."""

    def __init__(self, model: nn.Module, momentum: float = 0.999) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the teacher's parameters towards ``model``'s and copy its buffers (norm statistics)."""
        t_params = dict(self.module.named_parameters())
        for name, p in model.named_parameters():
            if name not in t_params:
                raise ValueError(f"student parameter {name!r} missing in the teacher")
            t_params[name].mul_(self.momentum).add_(p.detach(), alpha=1.0 - self.momentum)
        t_bufs = dict(self.module.named_buffers())
        for name, b in model.named_buffers():
            if name not in t_bufs:
                raise ValueError(f"student buffer {name!r} missing in the teacher")
            t_bufs[name].copy_(b)

    @torch.no_grad()
    def __call__(self, *args, **kwargs):
        """Run the teacher in eval mode without gradients."""
        return self.module(*args, **kwargs)


@torch.no_grad()
def mutual_nearest_pairs(
    feat_a: torch.Tensor,
    mask_a: torch.Tensor,
    feat_b: torch.Tensor,
    mask_b: torch.Tensor,
    k: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """k most similar mutual nearest neighbours between unit feature maps (B,D,h,w) inside masks (B,h,w).

    Returns (index_a (B,k), index_b (B,k), valid (B,k)); fewer than k mutual pairs leave valid False.
    """
    B, D, h, w = feat_a.shape
    check_shape("feat_b", feat_b, (B, D, None, None))
    check_shape("mask_a", mask_a, (B, h, w))
    check_shape("mask_b", mask_b, (B, *feat_b.shape[-2:]))
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sim = torch.bmm(feat_a.flatten(2).transpose(1, 2), feat_b.flatten(2))  # (B,Pa,Pb)
    ok_a = mask_a.reshape(B, -1) > 0.5
    ok_b = mask_b.reshape(B, -1) > 0.5
    low = torch.finfo(sim.dtype).min
    sim = sim.masked_fill(~ok_a.unsqueeze(2), low).masked_fill(~ok_b.unsqueeze(1), low)
    best_b = sim.argmax(dim=2)  # (B,Pa)
    best_a = sim.argmax(dim=1)  # (B,Pb)
    mutual = torch.gather(best_a, 1, best_b) == torch.arange(sim.shape[1], device=sim.device)
    mutual &= ok_a & torch.gather(ok_b, 1, best_b)
    score = torch.gather(sim, 2, best_b.unsqueeze(-1)).squeeze(-1).masked_fill(~mutual, float("-inf"))
    kk = min(k, score.shape[1])
    top, idx_a = score.topk(kk, dim=1)
    valid = torch.isfinite(top)
    idx_b = torch.gather(best_b, 1, idx_a)
    if kk < k:
        pad = k - kk
        idx_a = torch.cat((idx_a, idx_a.new_zeros(B, pad)), 1)
        idx_b = torch.cat((idx_b, idx_b.new_zeros(B, pad)), 1)
        valid = torch.cat((valid, valid.new_zeros(B, pad)), 1)
    return idx_a, idx_b, valid


def cross_instance_cycle_loss(
    match_2d3d_a: torch.Tensor,
    vertex_pixels_b: torch.Tensor,
    pixel_xy_b: torch.Tensor,
    index_a: torch.Tensor,
    index_b: torch.Tensor,
    valid: torch.Tensor,
    pixel_scale: float,
) -> torch.Tensor:
    """Mean over valid teacher pairs of |sum_n W_A[a, n] p_B(n) - xy_B[b]|^2 / pixel_scale^2."""
    check_shape("pixel_xy_b", pixel_xy_b, (None, 2))
    tgt = pixel_xy_b.to(vertex_pixels_b)[index_b]
    return forward_cycle_loss(match_2d3d_a, vertex_pixels_b, index_a, tgt, valid.float(), pixel_scale)
