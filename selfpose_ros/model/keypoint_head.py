"""Keypoint heatmaps for farthest-point-sampled prior vertices, soft-argmax and CSE proxy targets."""

from __future__ import annotations

import torch
from torch import nn


def farthest_point_sampling(points: torch.Tensor, k: int, start: int = 0) -> torch.Tensor:
    """Indices (..., k) of k farthest-point samples of points (..., N, 3), starting at index ``start``."""
    N = points.shape[-2]
    if not 1 <= k <= N:
        raise ValueError(f"cannot sample k={k} of {N} points")
    lead = points.shape[:-2]
    flat = points.reshape(-1, N, points.shape[-1])
    B = flat.shape[0]
    idx = torch.empty(B, k, dtype=torch.long, device=points.device)
    idx[:, 0] = start
    dist = torch.full((B, N), float("inf"), dtype=flat.dtype, device=points.device)
    ar = torch.arange(B, device=points.device)
    for i in range(1, k):
        last = flat[ar, idx[:, i - 1]]  # (B,3)
        dist = torch.minimum(dist, ((flat - last.unsqueeze(1)) ** 2).sum(-1))
        idx[:, i] = dist.argmax(dim=1)
    return idx.reshape(*lead, k)


def soft_argmax(logits: torch.Tensor, pixel_xy: torch.Tensor) -> torch.Tensor:
    """Expected crop pixel (B,K,2) of spatial softmax over heatmap logits (B,K,h,w); pixel_xy (h*w,2)."""
    prob = torch.softmax(logits.flatten(2), dim=-1)
    return prob @ pixel_xy.to(prob)


def gaussian_heatmaps(
    centres: torch.Tensor, pixel_xy: torch.Tensor, size: tuple[int, int], sigma: float
) -> torch.Tensor:
    """Heatmaps exp(-|x - c|^2 / (2 sigma^2)) (B,K,h,w), peak 1, for crop-pixel centres (B,K,2)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    d2 = ((pixel_xy.to(centres).view(1, 1, -1, 2) - centres.unsqueeze(2)) ** 2).sum(-1)
    return torch.exp(-d2 / (2.0 * sigma**2)).reshape(*centres.shape[:2], *size)


def proxy_keypoint_targets(
    vertex_pixels: torch.Tensor,
    keypoint_idx: torch.Tensor,
    pixel_xy: torch.Tensor,
    size: tuple[int, int],
    sigma: float,
) -> torch.Tensor:
    """Gaussian proxy heatmaps around the CSE 3D->2D expected pixels of the keypoint vertices (detached)."""
    centres = torch.gather(vertex_pixels.detach(), 1, keypoint_idx.unsqueeze(-1).expand(-1, -1, 2))
    return gaussian_heatmaps(centres, pixel_xy, size, sigma)


class KeypointHead(nn.Module):
    """Shared 3x3 conv trunk on the decoder's hidden map; one 1x1 output conv (K maps) per category."""

    def __init__(self, in_ch: int, categories: list[str], num_keypoints: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(in_ch, in_ch, 3, 1, 1), nn.ReLU(inplace=True))
        self.out = nn.ModuleDict({c: nn.Conv2d(in_ch, num_keypoints, 1) for c in categories})

    def forward(self, hidden: torch.Tensor, categories: list[str]) -> torch.Tensor:
        """Heatmap logits (B,K,h,w) for the given per-sample categories."""
        if len(categories) != hidden.shape[0]:
            raise ValueError(f"{len(categories)} categories for a batch of {hidden.shape[0]}")
        x = self.trunk(hidden)
        out: torch.Tensor | None = None
        for cat in dict.fromkeys(categories):
            if cat not in self.out:
                raise ValueError(f"no keypoint head for category {cat!r}")
            rows = torch.tensor([i for i, c in enumerate(categories) if c == cat], device=x.device)
            y = self.out[cat](x[rows])
            if out is None:
                out = x.new_zeros(x.shape[0], *y.shape[1:])
            out = out.index_copy(0, rows, y)
        assert out is not None
        return out
