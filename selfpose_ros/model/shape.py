"""Per-category shape: learnable mean mesh + MLP offsets conditioned on a 64-d shape code."""

from __future__ import annotations

import torch
from torch import nn


class ShapeHead(nn.Module):
    """Shape code Linear(global -> code_dim); 5-layer MLP on [xyz, code] -> per-vertex offset.

    The mean mesh (initialised from the category prior) is a learnable parameter ``mean_vertices``;
    the predicted offsets have their mean over vertices removed, so deformation does not translate.
    """

    def __init__(
        self,
        prior_vertices: torch.Tensor,
        faces: torch.Tensor,
        global_dim: int,
        code_dim: int = 64,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        if prior_vertices.dim() != 2 or prior_vertices.shape[1] != 3:
            raise ValueError(f"prior vertices must be (N,3), got {tuple(prior_vertices.shape)}")
        if faces.dim() != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces must be (F,3), got {tuple(faces.shape)}")
        if faces.numel() and (faces.min() < 0 or faces.max() >= prior_vertices.shape[0]):
            raise ValueError("faces index vertices outside the prior")
        self.mean_vertices = nn.Parameter(prior_vertices.detach().float().clone())
        self.register_buffer("faces", faces.detach().long().clone())
        self.code = nn.Linear(global_dim, code_dim)
        layers: list[nn.Module] = [nn.Linear(3 + code_dim, hidden), nn.LeakyReLU(0.1)]
        for _ in range(3):
            layers += [nn.Linear(hidden, hidden), nn.LeakyReLU(0.1)]
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(hidden, 3)
        with torch.no_grad():  # start at the prior: tiny initial deformation
            self.out.weight.mul_(1e-3)
            self.out.bias.zero_()

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices."""
        return self.mean_vertices.shape[0]

    def forward(self, global_feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (deformed vertices (B,N,3), offsets (B,N,3)) for global features (B,C)."""
        B = global_feature.shape[0]
        code = self.code(global_feature)  # (B, code_dim)
        xyz = self.mean_vertices.unsqueeze(0).expand(B, -1, -1)
        inp = torch.cat((xyz, code.unsqueeze(1).expand(-1, self.num_vertices, -1)), dim=-1)
        offsets = self.out(self.mlp(inp))
        offsets = offsets - offsets.mean(dim=1, keepdim=True)
        return xyz + offsets, offsets
