"""SoftRas-style differentiable rasteriser in pure torch (no pytorch3d / nvdiffrast; see docs/model.md).

For every pixel centre p and projected triangle j (pixel centres at integer coordinates):
  d_j   = squared distance from p to the triangle's edges, in render pixels^2;
  D_j   = sigmoid(delta_j * d_j / sigma), delta_j = +1 inside the triangle, -1 outside (soft coverage);
  mask  = 1 - prod_j (1 - D_j);
  w_j   = softmax_j(log D_j - z_j / gamma) (depth-aware aggregation: nearer and better covered wins);
  depth = sum_j w_j z_j(p),  colour = mask * sum_j w_j c_j(p) + (1 - mask) * background;
z_j(p) and c_j(p) interpolate the triangle perspective-correctly with barycentrics clamped to the
triangle (the nearest-point rule for outside pixels). As sigma -> 0, mask tends to the hard silhouette.
Only (pixel, face) pairs within sqrt(cutoff * sigma) pixels of the face's bounding box are evaluated
(coverage further out is below sigmoid(-cutoff)); pairs are processed in chunks whose per-pixel sums are
added exactly, and each chunk is checkpointed when gradients are on, so memory grows with the chunk
size, not with the number of faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from selfpose_ros.model.camera import check_intrinsics


@dataclass
class RenderResult:
    """Soft-rasterised images."""

    mask: torch.Tensor  #: (B,h,w) soft silhouette in [0,1]
    depth: torch.Tensor  #: (B,h,w) aggregated camera depth (meaningful where mask > 0)
    colour: torch.Tensor | None  #: (B,C,h,w) when vertex colours were given


def _cross2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _segment_d2(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ab = b - a
    t = (((p - a) * ab).sum(-1) / ((ab * ab).sum(-1) + 1e-12)).clamp(0.0, 1.0)
    diff = p - a - t.unsqueeze(-1) * ab
    return (diff * diff).sum(-1)


def _pair_terms(pix_xy, tri_xy, tri_z, tri_col, sigma: float, gamma: float):
    """Per (pixel, face) pair: log(1 - D), aggregation logit, interpolated depth and attributes."""
    v0, v1, v2 = tri_xy[:, 0], tri_xy[:, 1], tri_xy[:, 2]
    area = _cross2(v1 - v0, v2 - v0)  # faces with |area| <= _MIN_AREA were dropped when pairing
    w0 = _cross2(v1 - pix_xy, v2 - pix_xy) / area
    w1 = _cross2(v2 - pix_xy, v0 - pix_xy) / area
    bary = torch.stack((w0, w1, 1.0 - w0 - w1), dim=-1)
    inside = (bary >= 0).all(dim=-1)
    d2 = torch.minimum(
        torch.minimum(_segment_d2(pix_xy, v0, v1), _segment_d2(pix_xy, v1, v2)), _segment_d2(pix_xy, v2, v0)
    )
    x = torch.where(inside, d2, -d2) / sigma
    bc = bary.clamp(0.0, 1.0)
    bc = bc / bc.sum(-1, keepdim=True)
    inv_z = bc / tri_z
    z_pix = 1.0 / inv_z.sum(-1)
    logit = F.logsigmoid(x) - z_pix / gamma
    col = None
    if tri_col is not None:
        col = ((inv_z * z_pix.unsqueeze(-1)).unsqueeze(-1) * tri_col).sum(dim=1)
    return F.logsigmoid(-x), logit, z_pix, col


def _chunk_sums(pix_xy, tri_xy, tri_z, tri_col, target, m, n_pix: int, sigma: float, gamma: float):
    """Scatter one chunk of pairs into per-pixel sums: log(1-D), sum e, sum e*z, sum e*colour."""
    lom_t, logit, z_pix, col = _pair_terms(pix_xy, tri_xy, tri_z, tri_col, sigma, gamma)
    e = torch.exp(logit - m[target])
    zeros = lom_t.new_zeros(n_pix)
    lom = zeros.index_add(0, target, lom_t)
    s = zeros.index_add(0, target, e)
    vz = zeros.index_add(0, target, e * z_pix)
    vc = None
    if col is not None:
        vc = col.new_zeros(n_pix, col.shape[-1]).index_add(0, target, e.unsqueeze(-1) * col)
    return lom, s, vz, vc


def _gather_faces(values: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    B, Fn = faces.shape[:2]
    idx = faces.reshape(B, Fn * 3, 1).expand(-1, -1, values.shape[-1])
    return torch.gather(values, 1, idx).reshape(B, Fn, 3, values.shape[-1])


def _pairs(tri_xy: torch.Tensor, valid: torch.Tensor, size: tuple[int, int], radius: float):
    """(face, pixel) pairs whose pixel centre lies in the face's box grown by ``radius`` pixels."""
    h, w = size
    B, Fn = valid.shape
    xy = tri_xy.detach()
    lo = torch.ceil(xy.amin(dim=2) - radius)
    hi = torch.floor(xy.amax(dim=2) + radius)
    x0 = lo[..., 0].clamp(0, w - 1).long()
    y0 = lo[..., 1].clamp(0, h - 1).long()
    x1 = hi[..., 0].clamp(-1, w - 1).long()
    y1 = hi[..., 1].clamp(-1, h - 1).long()
    wx = (x1 - x0 + 1).clamp(min=0)
    wy = (y1 - y0 + 1).clamp(min=0)
    counts = (wx * wy * valid).reshape(-1)
    face = torch.repeat_interleave(torch.arange(B * Fn, device=xy.device), counts)
    start = torch.cumsum(counts, 0) - counts
    k = torch.arange(face.numel(), device=xy.device) - start[face]
    wxf = wx.reshape(-1)[face]
    px = x0.reshape(-1)[face] + k % wxf.clamp(min=1)
    py = y0.reshape(-1)[face] + k // wxf.clamp(min=1)
    target = (face // Fn) * (h * w) + py * w + px
    return face, target, torch.stack((px, py), dim=-1)


_MIN_AREA = 1e-6  # px^2: thinner projected faces are dropped


def _checked_mesh(vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, colours: torch.Tensor | None,
                  face_valid: torch.Tensor | None, sigma: float, gamma: float,
                  cutoff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate render_soft's inputs; return faces (B,F,3), K (B,3,3) and the face validity (B,F)."""
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be (B,N,3), got {tuple(vertices.shape)}")
    if sigma <= 0 or gamma <= 0 or cutoff <= 0:
        raise ValueError(f"sigma, gamma and cutoff must be positive, got {sigma}, {gamma}, {cutoff}")
    B, N = vertices.shape[:2]
    if faces.dim() == 2:
        faces = faces.unsqueeze(0).expand(B, -1, -1)
    if faces.dim() != 3 or faces.shape[0] != B or faces.shape[2] != 3:
        raise ValueError(f"faces must be (F,3) or ({B},F,3), got {tuple(faces.shape)}")
    if faces.numel() and (faces.min() < 0 or faces.max() >= N):
        raise ValueError("faces index vertices outside the mesh")
    if colours is not None and colours.shape[:2] != (B, N):
        raise ValueError(f"colours must be ({B},{N},C), got {tuple(colours.shape)}")
    Fn = faces.shape[1]
    valid = torch.ones(B, Fn, dtype=torch.bool, device=vertices.device)
    if face_valid is not None:
        if face_valid.shape != (B, Fn):
            raise ValueError(f"face_valid must be ({B},{Fn}), got {tuple(face_valid.shape)}")
        valid = face_valid.bool()
    return faces, check_intrinsics(K, B).to(vertices), valid


def _project_faces(tri: torch.Tensor, K: torch.Tensor, valid: torch.Tensor,
                   near: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project face corners (B,F,3,3) with K (B,3,3): pixel corners (B,F,3,2), depths (B,F,3), validity (B,F).

    Faces with a corner nearer than ``near`` or a (near-)zero image area become invalid."""
    z = tri[..., 2]
    valid = valid & (z > near).all(dim=-1)
    z = torch.where(valid.unsqueeze(-1), z, torch.ones_like(z))
    k = K[:, None, None]
    u = k[..., 0, 0] * tri[..., 0] / z + k[..., 0, 1] * tri[..., 1] / z + k[..., 0, 2]
    v = k[..., 1, 1] * tri[..., 1] / z + k[..., 1, 2]
    tri_xy = torch.stack((u, v), dim=-1)
    area = _cross2(tri_xy[:, :, 1] - tri_xy[:, :, 0], tri_xy[:, :, 2] - tri_xy[:, :, 0])
    return tri_xy, z, valid & (area.abs() > _MIN_AREA)


def render_soft(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    image_size: tuple[int, int],
    colours: torch.Tensor | None = None,
    face_valid: torch.Tensor | None = None,
    sigma: float = 0.5,
    gamma: float = 0.01,
    near: float = 1e-3,
    background: float = 0.0,
    cutoff: float = 20.0,
    max_pairs: int = 1 << 20,
) -> RenderResult:
    """Soft-render camera-frame meshes.

    vertices (B,N,3) camera frame (z forward); faces (F,3) or (B,F,3) long; K (3,3) or (B,3,3) for the
    render resolution ``image_size = (h, w)`` (use camera.scale_intrinsics to go from crop to render size);
    colours (B,N,C) optional vertex attributes; face_valid (B,F) excludes padded faces;
    sigma: coverage sharpness in render pixels^2; gamma: depth temperature in depth units;
    faces with a vertex nearer than ``near`` are dropped. A face only touches pixels within
    sqrt(cutoff * sigma) pixels of its box (coverage there < sigmoid(-cutoff)); pairs are processed in
    chunks of ``max_pairs`` (checkpointed when gradients are on).

    Steps: project the faces; list (face, pixel) pairs near each face; one no-grad pass for the per-pixel
    max logit (numerical stability); one pass accumulating coverage, softmax weights, depth and colour.
    """
    faces, K, valid = _checked_mesh(vertices, faces, K, colours, face_valid, sigma, gamma, cutoff)
    B = vertices.shape[0]
    h, w = image_size
    Fn = faces.shape[1]
    tri_xy, z, valid = _project_faces(_gather_faces(vertices, faces), K, valid, near)
    tri_col = _gather_faces(colours, faces).reshape(B * Fn, 3, -1) if colours is not None else None
    face, target, pix = _pairs(tri_xy, valid, (h, w), (cutoff * sigma) ** 0.5)
    tri_xy, z = tri_xy.reshape(B * Fn, 3, 2), z.reshape(B * Fn, 3)
    pix = pix.to(vertices.dtype)
    n_pix = B * h * w
    chunks = [slice(i, i + max_pairs) for i in range(0, face.numel(), max_pairs)]
    m = vertices.new_full((n_pix,), -1e30)
    with torch.no_grad():  # exact per-pixel max logit (the results do not depend on it)
        for sl in chunks:
            f = face[sl]
            logit = _pair_terms(pix[sl], tri_xy[f], z[f], None, sigma, gamma)[1]
            m = m.scatter_reduce(0, target[sl], logit, reduce="amax")
    lom = vertices.new_zeros(n_pix) + 0.0 * vertices.sum()  # keeps empty renders on the graph
    S, VZ = lom.clone(), lom.clone()
    VC = vertices.new_zeros(n_pix, colours.shape[-1]) + 0.0 * colours.sum() if colours is not None else None
    use_ckpt = torch.is_grad_enabled() and len(chunks) > 1
    for sl in chunks:
        f = face[sl]
        args = (pix[sl], tri_xy[f], z[f], None if tri_col is None else tri_col[f], target[sl], m, n_pix)
        if use_ckpt:
            out = checkpoint(_chunk_sums, *args, sigma, gamma, use_reentrant=False)
        else:
            out = _chunk_sums(*args, sigma, gamma)
        lom, S, VZ = lom + out[0], S + out[1], VZ + out[2]
        if VC is not None:
            VC = VC + out[3]
    mask = 1.0 - torch.exp(lom)
    denom = S + 1e-30
    depth = VZ / denom
    colour = None
    if VC is not None:
        fg = VC / denom.unsqueeze(-1)
        colour = mask.unsqueeze(-1) * fg + (1.0 - mask.unsqueeze(-1)) * background
        colour = colour.reshape(B, h, w, -1).permute(0, 3, 1, 2)
    return RenderResult(mask.reshape(B, h, w), depth.reshape(B, h, w), colour)


def transform_vertices(
    vertices: torch.Tensor, R: torch.Tensor, t: torch.Tensor, scale: torch.Tensor | float = 1.0
) -> torch.Tensor:
    """Canonical (B,N,3) -> camera frame: s R v + t, with R (B,3,3), t (B,3), s scalar or (B,)."""
    s = torch.as_tensor(scale, dtype=vertices.dtype, device=vertices.device)
    if s.dim() == 1:
        s = s.view(-1, 1, 1)
    return s * torch.einsum("bij,bnj->bni", R, vertices) + t.unsqueeze(1)
