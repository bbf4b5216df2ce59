"""Tiny PointNet: deformed vertices -> per-vertex L2-normalised surface embeddings (the CSE)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PointNetEmbedder(nn.Module):
    """Shared point MLP (3 -> h -> 2h), masked max-pool context concatenated back, MLP -> embed_dim."""

    def __init__(self, embed_dim: int = 64, hidden: int = 64) -> None:
        super().__init__()
        self.local = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 2 * hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(4 * hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, embed_dim))

    def forward(self, vertices: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Embed (B,N,3) vertices (detached here); ``valid`` (B,N) excludes padding from the pool."""
        x = vertices.detach()
        local = self.local(x)
        if valid is not None:
            if valid.shape != vertices.shape[:2]:
                raise ValueError(f"valid must be {tuple(vertices.shape[:2])}, got {tuple(valid.shape)}")
            pooled = local.masked_fill(~valid.bool().unsqueeze(-1), float("-inf")).amax(dim=1)
        else:
            pooled = local.amax(dim=1)
        ctx = pooled.unsqueeze(1).expand_as(local)
        emb = self.head(torch.cat((local, ctx), dim=-1))
        return F.normalize(emb, dim=-1, eps=1e-6)
