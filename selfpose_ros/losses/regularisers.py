"""Shape and pose regularisers: deformation, uniform Laplacian, symmetry (one-way Chamfer), keep-in-front."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.losses._checks import check_positive, check_shape, weighted_mean

_KINDS = frozenset(SYMMETRY.values()) | {"none"}


def deformation_loss(
    offsets: torch.Tensor, vertex_valid: torch.Tensor | None = None, beta: float = 0.1
) -> torch.Tensor:
    """Smooth-L1 (Huber with transition ``beta``) of the offsets (B,N,3) against 0, mean over valid vertices."""
    check_shape("offsets", offsets, (None, None, 3))
    check_positive("beta", beta)
    per_vertex = F.smooth_l1_loss(offsets, torch.zeros_like(offsets), reduction="none", beta=beta).sum(-1)
    valid = torch.ones_like(per_vertex) if vertex_valid is None else vertex_valid.to(per_vertex)
    return weighted_mean(per_vertex, valid)


def edges_from_faces(faces: torch.Tensor) -> torch.Tensor:
    """Unique undirected edges (E,2), smaller index first, of triangles (F,3)."""
    check_shape("faces", faces, (None, 3))
    e = torch.cat((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]), dim=0)
    e = torch.sort(e, dim=1).values
    return torch.unique(e, dim=0)


def uniform_laplacian(vertices: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """v_i - mean of v_i's neighbours (B,N,3); vertices without neighbours get 0."""
    B, N = vertices.shape[:2]
    check_shape("edges", edges, (None, 2))
    src = torch.cat((edges[:, 0], edges[:, 1]))
    dst = torch.cat((edges[:, 1], edges[:, 0]))
    deg = torch.zeros(N, dtype=vertices.dtype, device=vertices.device).index_add(
        0, src, torch.ones_like(src, dtype=vertices.dtype)
    )
    nb_sum = torch.zeros_like(vertices).index_add(1, src, vertices[:, dst])
    has = (deg > 0).to(vertices.dtype)
    return (vertices - nb_sum / deg.clamp(min=1).view(1, N, 1)) * has.view(1, N, 1)


def laplacian_loss(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of the uniform Laplacian of a mesh (B,N,3) with triangles (F,3)."""
    check_shape("vertices", vertices, (None, None, 3))
    lap = uniform_laplacian(vertices, edges_from_faces(faces))
    return (lap**2).sum(-1).mean()


def symmetry_transforms(kind: str, n_rotations: int = 8, dtype=torch.float32, device=None) -> torch.Tensor:
    """The non-identity 3x3 maps (M,3,3) of a symmetry kind: rotations about +Y by 2 pi k / n, or a mirror."""
    if kind not in _KINDS:
        raise ValueError(f"unknown symmetry kind {kind!r}; known: {sorted(_KINDS)}")
    if kind == "none":
        return torch.zeros(0, 3, 3, dtype=dtype, device=device)
    if kind == "mirror_x":
        return torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=dtype, device=device)).unsqueeze(0)
    if kind == "mirror_z":
        return torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=dtype, device=device)).unsqueeze(0)
    if n_rotations < 2:
        raise ValueError(f"n_rotations must be >= 2, got {n_rotations}")
    mats = []
    for k in range(1, n_rotations):
        a = 2.0 * math.pi * k / n_rotations
        c, s = math.cos(a), math.sin(a)
        mats.append([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return torch.tensor(mats, dtype=dtype, device=device)


def symmetry_loss(vertices: torch.Tensor, kind: str, n_rotations: int = 8) -> torch.Tensor:
    """One-way Chamfer: mean squared distance from each symmetry-mapped vertex to the nearest vertex.

    vertices (B,N,3) canonical (one category); kind from conventions.SYMMETRY ('none' gives 0).
    """
    check_shape("vertices", vertices, (None, None, 3))
    T = symmetry_transforms(kind, n_rotations, vertices.dtype, vertices.device)
    if T.shape[0] == 0:
        return vertices.sum() * 0.0
    B, N = vertices.shape[:2]
    mapped = torch.einsum("mij,bnj->bmni", T, vertices).reshape(B, -1, 3)
    d2 = torch.cdist(mapped, vertices) ** 2
    return d2.min(dim=-1).values.mean()


def keep_in_front_loss(translation: torch.Tensor, min_depth: float = 1.0) -> torch.Tensor:
    """Mean relu(min_depth - t_z) over the batch (translations (B,3), canonical units)."""
    check_shape("translation", translation, (None, 3))
    return torch.relu(min_depth - translation[:, 2]).mean()
