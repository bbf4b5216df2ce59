"""Per-category shape: learnable mean mesh + MLP offsets conditioned on a shape code, and per-axis proportions.

With ``axes=True`` the code also predicts the instance's proportions: log scales ``a = (a_x, a_y, a_z)`` stretch
the (mean + offset) mesh per canonical axis, and the result is divided by ``|e0 * exp(a)|`` (``e0`` = the prior's
box extents, diagonal 1), so the predicted mesh keeps a unit box diagonal (the NOCS convention) while its
proportions vary per instance: a tall drink can and a squat tin get different meshes. For solids of
revolution (``tie_xz``) x and z share one scale. ``normalised_extents = e0 exp(a) / |e0 exp(a)|`` is what the
size terms supervise (losses/shape_size.py).
"""

from __future__ import annotations

import torch
from torch import nn


class ShapeHead(nn.Module):
    """Shape code Linear(global -> code_dim); 5-layer MLP on [xyz, code] -> per-vertex offset; optional axes.

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
        axes: bool = False,
        tie_xz: bool = False,
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
        self.tie_xz = bool(tie_xz)
        self.axes: nn.Linear | None = None
        if axes:
            self.axes = nn.Linear(code_dim, 3)
            nn.init.zeros_(self.axes.weight)
            nn.init.zeros_(self.axes.bias)
            ext = prior_vertices.detach().float().amax(0) - prior_vertices.detach().float().amin(0)
            self.register_buffer("prior_extents", ext.clamp(min=1e-6))

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices."""
        return self.mean_vertices.shape[0]

    def axis_log_scale(self, code: torch.Tensor) -> torch.Tensor:
        """Per-axis log scales (B,3) from shape codes; zeros when the head has no axes."""
        if self.axes is None:
            return code.new_zeros(code.shape[0], 3)
        a = self.axes(code)
        if self.tie_xz:
            xz = 0.5 * (a[:, 0] + a[:, 2])
            a = torch.stack((xz, a[:, 1], xz), 1)
        return a

    def normalised_extents(self, log_scale: torch.Tensor) -> torch.Tensor:
        """Unit-diagonal box extents (B,3) implied by per-axis log scales (the prior's when there are no axes)."""
        ext = getattr(self, "prior_extents", None)
        if ext is None:
            ext = self.mean_vertices.detach().amax(0) - self.mean_vertices.detach().amin(0)
        e = ext * torch.exp(log_scale)
        return e / e.norm(dim=1, keepdim=True)

    def forward(self, global_feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (deformed vertices (B,N,3), offsets (B,N,3), axis log scales (B,3)) for global features (B,C)."""
        B = global_feature.shape[0]
        code = self.code(global_feature)  # (B, code_dim)
        xyz = self.mean_vertices.unsqueeze(0).expand(B, -1, -1)
        inp = torch.cat((xyz, code.unsqueeze(1).expand(-1, self.num_vertices, -1)), dim=-1)
        offsets = self.out(self.mlp(inp))
        offsets = offsets - offsets.mean(dim=1, keepdim=True)
        log_scale = self.axis_log_scale(code)
        verts = xyz + offsets
        if self.axes is not None:
            stretch = torch.exp(log_scale)
            norm = (self.prior_extents * stretch).norm(dim=1) / self.prior_extents.norm()
            verts = verts * (stretch / norm.unsqueeze(1)).unsqueeze(1)
        return verts, offsets, log_scale
