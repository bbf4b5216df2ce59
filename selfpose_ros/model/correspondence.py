"""Dense 2D<->3D correspondence from pixel and vertex embeddings (CSE, eq. 1-2 and 7).

Shapes: P = h*w pixel cells, N vertices. Both matrices are returned as (B, P, N):
``match_2d3d`` is normalised over vertices (each in-mask pixel's row sums to 1; out-of-mask rows are 0),
``match_3d2d`` is normalised over pixels (each valid vertex's column sums to 1 over in-mask pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Correspondence:
    """Correspondence maps of a batch of crops."""

    match_2d3d: torch.Tensor  #: (B,P,N) softmax over vertices, zero rows outside the mask
    match_3d2d: torch.Tensor  #: (B,P,N) softmax over in-mask pixels, zero columns for padded vertices
    points3d: torch.Tensor  #: (B,P,3) expected canonical point per pixel (zero outside the mask)
    vertex_pixels: torch.Tensor  #: (B,N,2) expected crop pixel per vertex
    cycle_confidence: torch.Tensor  #: (B,P) exp(-5 * forward-backward error), zero outside the mask


def similarity(pixel_emb: torch.Tensor, vertex_emb: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
    """Cosine similarity / tau between unit pixel embeddings (B,D,h,w) and vertex ones (B,N,D): (B,P,N).

    ``tau`` is a positive number, or a scalar tensor (a learnt temperature, kept positive by its owner)."""
    if not isinstance(tau, torch.Tensor) and tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if pixel_emb.shape[1] != vertex_emb.shape[-1]:
        raise ValueError(f"embedding dims differ: {pixel_emb.shape[1]} vs {vertex_emb.shape[-1]}")
    flat = pixel_emb.flatten(2).transpose(1, 2)  # (B,P,D)
    return torch.bmm(flat, vertex_emb.transpose(1, 2)) / tau


def correspond(
    pixel_emb: torch.Tensor,
    vertex_emb: torch.Tensor,
    vertices: torch.Tensor,
    pixel_mask: torch.Tensor,
    pixel_xy: torch.Tensor,
    tau: float | torch.Tensor = 0.1,
    vertex_valid: torch.Tensor | None = None,
    confidence_scale: float | None = None,
) -> Correspondence:
    """Build both softmax maps, the expected 3D point per pixel and pixel per vertex, and confidences.

    pixel_emb (B,D,h,w); vertex_emb (B,N,D); vertices (B,N,3) canonical deformed vertices;
    pixel_mask (B,h,w) object mask at feature resolution; pixel_xy (P,2) crop-pixel centres of the cells;
    confidence_scale: crop size used to normalise the forward-backward error to [-1, 1] crop units
    (default: 4 * max(h, w), the crop size for stride-4 features).
    """
    B, _, h, w = pixel_emb.shape
    N = vertex_emb.shape[1]
    if pixel_mask.shape != (B, h, w):
        raise ValueError(f"pixel_mask must be {(B, h, w)}, got {tuple(pixel_mask.shape)}")
    if vertices.shape != (B, N, 3):
        raise ValueError(f"vertices must be {(B, N, 3)}, got {tuple(vertices.shape)}")
    if pixel_xy.shape != (h * w, 2):
        raise ValueError(f"pixel_xy must be {(h * w, 2)}, got {tuple(pixel_xy.shape)}")
    pix_ok = pixel_mask.reshape(B, h * w) > 0.5
    empty = ~pix_ok.any(dim=1)
    if empty.any():
        raise ValueError(f"empty object mask at feature resolution for samples {empty.nonzero().flatten().tolist()}")
    vert_ok = torch.ones(B, N, dtype=torch.bool, device=vertices.device)
    if vertex_valid is not None:
        vert_ok = vertex_valid.bool()
        if not vert_ok.any(dim=1).all():
            raise ValueError("a sample has no valid vertex")
    sim = similarity(pixel_emb, vertex_emb, tau)
    neg_inf = torch.finfo(sim.dtype).min
    # 2D->3D: softmax over vertices, rows of out-of-mask pixels zeroed.
    w23 = torch.softmax(sim.masked_fill(~vert_ok.unsqueeze(1), neg_inf), dim=2)
    w23 = w23 * pix_ok.unsqueeze(2).to(w23.dtype)
    # 3D->2D: softmax over in-mask pixels; padded vertices' columns zeroed.
    w32 = torch.softmax(sim.masked_fill(~pix_ok.unsqueeze(2), neg_inf), dim=1)
    w32 = w32 * pix_ok.unsqueeze(2).to(w32.dtype) * vert_ok.unsqueeze(1).to(w32.dtype)
    points3d = torch.bmm(w23, vertices)
    xy = pixel_xy.to(w32).unsqueeze(0).expand(B, -1, -1)
    vertex_pixels = torch.bmm(w32.transpose(1, 2), xy)  # (B,N,2)
    back = torch.bmm(w23, vertex_pixels)  # pixel -> vertices -> expected pixel
    scale = confidence_scale if confidence_scale is not None else 4.0 * max(h, w)
    err = (back - xy).norm(dim=-1) * (2.0 / scale)
    conf = torch.exp(-5.0 * err) * pix_ok.to(err.dtype)
    return Correspondence(w23, w32, points3d, vertex_pixels, conf)
