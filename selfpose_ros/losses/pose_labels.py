"""Pose-label terms: per-pixel canonical coordinates, rotation and translation against a known pose.

The pose is a pseudo-label (self-supervised mode: the fused-trajectory prior fit, train/pseudo_labels.py)
or the ground truth (supervised mode: the upper bound). A crop cell with depth lifts to a camera point
``X``; the label pose puts it at the canonical point ``R^T (X - t) / s``, which the 2D->3D expected point
``q_p`` of that cell should equal. Categories with continuous symmetry about +Y take the smallest error
over ``yaw_steps`` rotations about Y, so any consistent yaw is accepted.

``label_vertex_loss`` asks the same of the 2D->3D match itself: the cell's softmax over vertices should put
its mass on the vertex nearest that canonical point (cross-entropy, the classification form of CSE's
correspondence loss). The expected point alone is a weak signal where the match is spread out: a cell
torn between the front and the back of a box has its expected point near the centre, and the regression
pulls it along a line through the centre rather than to one side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.losses.multiview_pose import rotation_discrepancy
from selfpose_ros.model.camera import backproject_pixels


def cell_depth(depth: torch.Tensor, mask: torch.Tensor, stride: int) -> torch.Tensor:
    """Mean valid depth (B,h,w) of each ``stride`` x ``stride`` block of (B,1,S,S) depth inside the mask; 0 if none."""
    valid = ((depth > 0) & torch.isfinite(depth) & (mask > 0.5)).to(depth.dtype)
    d = torch.where(valid > 0, depth, torch.zeros_like(depth))
    num = F.avg_pool2d(d, stride)
    den = F.avg_pool2d(valid, stride)
    return torch.where(den > 0, num / den.clamp(min=1e-9), torch.zeros_like(num)).squeeze(1)


def yaw_rotations(steps: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Rotations (steps,3,3) about +Y by 2 pi k / steps, k = 0 .. steps - 1."""
    a = torch.arange(steps, dtype=dtype, device=device) * (2.0 * math.pi / steps)
    c, s = torch.cos(a), torch.sin(a)
    z, o = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack((c, z, s, z, o, z, -s, z, c), -1).reshape(steps, 3, 3)


def label_canonical_points(
    pixel_xy: torch.Tensor, depth_cells: torch.Tensor, K: torch.Tensor, scale: torch.Tensor, R: torch.Tensor,
    t: torch.Tensor
) -> torch.Tensor:
    """Canonical points (B,P,3) of the cells under the label pose: R^T (X - t) / s with X lifted from depth."""
    B = depth_cells.shape[0]
    X = backproject_pixels(pixel_xy.to(depth_cells).expand(B, -1, -1), depth_cells.reshape(B, -1), K)
    return torch.einsum("bji,bpj->bpi", R, X - t.unsqueeze(1)) / scale.view(B, 1, 1)


def label_coords_loss(
    points3d: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    categories: Sequence[str],
    yaw_steps: int = 24,
    beta: float = 0.05,
    symmetric: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over samples with weight of the per-sample weighted smooth-L1 |q_p - target_p| (canonical units).

    points3d, target (B,P,3); weight (B,P) >= 0. Continuous-y categories, and samples flagged in ``symmetric``
    (B,) (a mug whose handle is hidden), take the min over yaw rotations of the target.
    """
    B, P, _ = points3d.shape
    if target.shape != (B, P, 3) or weight.shape != (B, P) or len(categories) != B:
        raise ValueError(f"label_coords_loss: shapes {tuple(points3d.shape)}, {tuple(target.shape)}, "
                         f"{tuple(weight.shape)} and {len(categories)} categories disagree")
    rots = yaw_rotations(yaw_steps, points3d.dtype, points3d.device)
    sym = torch.tensor([SYMMETRY.get(c, "none") == "continuous_y" for c in categories], device=points3d.device)
    if symmetric is not None:
        sym = sym | symmetric.to(sym.device).bool()
    rotated = torch.einsum("kij,bpj->bkpi", rots, target)  # (B,K,P,3); k = 0 is the identity
    err = F.smooth_l1_loss(points3d.unsqueeze(1).expand_as(rotated), rotated, reduction="none", beta=beta).sum(-1)
    wsum = weight.sum(-1)
    per = (err * weight.unsqueeze(1)).sum(-1) / wsum.clamp(min=1e-9).unsqueeze(1)  # (B,K)
    best = torch.where(sym, per.min(dim=1).values, per[:, 0])
    has = wsum > 0
    if not has.any():
        return points3d.sum() * 0.0
    return best[has].mean()


def label_pose_losses(
    R_pred: torch.Tensor,
    t_pred: torch.Tensor,
    R_label: torch.Tensor,
    t_label_canonical: torch.Tensor,
    valid: torch.Tensor,
    categories: Sequence[str],
    symmetric: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rotation, translation) terms of the pose head against a label; translation in canonical units.

    ``symmetric`` (B,) flags samples scored as continuous about +Y regardless of category (hidden handle).
    """
    if not valid.any():
        zero = R_pred.sum() * 0.0
        return zero, zero
    cont = torch.tensor([SYMMETRY.get(c, "none") == "continuous_y" for c in categories], device=R_pred.device)
    if symmetric is not None:
        cont = cont | symmetric.to(cont.device).bool()
    rot = rotation_discrepancy(R_pred, R_label, cont)[valid].mean()
    trans = F.smooth_l1_loss(t_pred, t_label_canonical, reduction="none", beta=0.1).sum(-1)[valid].mean()
    return rot, trans


def label_vertex_loss(
    match_2d3d: torch.Tensor,
    vertices: torch.Tensor,
    vertex_valid: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    categories: Sequence[str],
    symmetric: torch.Tensor | None = None,
    max_distance: float = 0.1,
) -> torch.Tensor:
    """Mean cross-entropy of each labelled cell's 2D->3D match against the vertex nearest its target point.

    match_2d3d (B,P,N) softmax over vertices; vertices (B,N,3) canonical (deformed) vertices; vertex_valid
    (B,N); target (B,P,3) label canonical points; weight (B,P) >= 0. Cells whose target lies more than
    ``max_distance`` (canonical units, the prior's diagonal is 1) from every vertex are left out. Samples of
    continuous-y categories, and those flagged in ``symmetric`` (B,), have no unique vertex and are left out
    (``label_coords_loss`` covers them). Returns 0 (with a gradient path) when no cell is left.
    """
    B, P, N = match_2d3d.shape
    if vertices.shape != (B, N, 3) or target.shape != (B, P, 3) or weight.shape != (B, P) or len(categories) != B:
        raise ValueError(f"label_vertex_loss: shapes {tuple(match_2d3d.shape)}, {tuple(vertices.shape)}, "
                         f"{tuple(target.shape)}, {tuple(weight.shape)} and {len(categories)} categories disagree")
    keep = torch.tensor([SYMMETRY.get(c, "none") != "continuous_y" for c in categories], device=target.device)
    if symmetric is not None:
        keep = keep & ~symmetric.to(keep.device).bool()
    zero = match_2d3d.sum() * 0.0
    if not keep.any():
        return zero
    m, v, tgt, w = match_2d3d[keep], vertices[keep].to(target), target[keep], weight[keep]
    dist = torch.cdist(tgt, v)  # (b,P,N)
    dist = dist.masked_fill(~vertex_valid[keep].bool().unsqueeze(1), float("inf"))
    nearest_d, nearest = dist.min(dim=2)
    w = w * (nearest_d <= max_distance).to(w)
    wsum = w.sum(-1)
    has = wsum > 0
    if not has.any():
        return zero
    p = torch.gather(m.float(), 2, nearest.unsqueeze(-1)).squeeze(-1)
    ce = -torch.log(p.clamp(min=1e-8))
    per = (ce * w).sum(-1) / wsum.clamp(min=1e-9)
    return per[has].mean()
