"""Reconstruction losses through the soft renderer: mask, depth and texture (CSE eq. 3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from selfpose_ros.losses._checks import check_positive, check_shape, weighted_mean
from selfpose_ros.model.camera import sample_map


def mask_loss(
    rendered: torch.Tensor, target: torch.Tensor, kind: str = "l1", scales: Sequence[int] = (1,)
) -> torch.Tensor:
    """Silhouette loss between soft (B,h,w) masks, averaged over average-pooled ``scales``.

    kind 'l1': mean |S^ - S|; 'l2': mean (S^ - S)^2; 'iou': 1 - sum min(S^, S) / sum max(S^, S) (soft IoU,
    equal to 1 - sum(S^ S) / sum(S^ + S - S^ S) for a binary S and zero for equal pooled masks).
    """
    check_shape("rendered mask", rendered, (None, None, None))
    if rendered.shape != target.shape:
        raise ValueError(f"mask shapes differ: {tuple(rendered.shape)} vs {tuple(target.shape)}")
    if kind not in ("l1", "l2", "iou"):
        raise ValueError(f"unknown mask loss kind {kind!r}; use 'l1', 'l2' or 'iou'")
    if not scales:
        raise ValueError("scales must not be empty")
    total = rendered.new_zeros(())
    for s in scales:
        if s < 1 or rendered.shape[-1] % s or rendered.shape[-2] % s:
            raise ValueError(f"scale {s} does not divide the mask size {tuple(rendered.shape[-2:])}")
        a = F.avg_pool2d(rendered.unsqueeze(1), s) if s > 1 else rendered.unsqueeze(1)
        b = F.avg_pool2d(target.to(rendered).unsqueeze(1), s) if s > 1 else target.to(rendered).unsqueeze(1)
        if kind == "l1":
            total = total + (a - b).abs().mean()
        elif kind == "l2":
            total = total + ((a - b) ** 2).mean()
        else:
            inter = torch.minimum(a, b).flatten(1).sum(1)
            union = torch.maximum(a, b).flatten(1).sum(1).clamp(min=1e-6)
            total = total + (1.0 - inter / union).mean()
    return total / len(scales)


def depth_valid_mask(
    rendered_mask: torch.Tensor, observed_depth: torch.Tensor, target_mask: torch.Tensor
) -> torch.Tensor:
    """Pixels where both depths are meaningful: object mask, a positive finite reading, rendered cover > 0.5."""
    finite = torch.isfinite(observed_depth) & (observed_depth > 0)
    return finite & (target_mask > 0.5) & (rendered_mask.detach() > 0.5)


def mean_depth_ratio(rendered_depth: torch.Tensor, observed_depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-sample ratio mean(observed) / mean(rendered) over valid pixels (B,); NaN-free, 0 when none valid.

    With the scale fixed to 1 in the model, this is the object's metric scale (metres per canonical unit).
    """
    obs = torch.where(valid, observed_depth, torch.zeros_like(observed_depth))
    ren = torch.where(valid, rendered_depth, torch.zeros_like(rendered_depth))
    return obs.flatten(1).sum(1) / ren.flatten(1).sum(1).clamp(min=1e-9)


def depth_loss(
    rendered_depth: torch.Tensor,
    rendered_mask: torch.Tensor,
    observed_depth: torch.Tensor,
    target_mask: torch.Tensor,
    clip: float = 0.5,
) -> torch.Tensor:
    """Scale-free depth loss: mean over valid pixels of min(|s D^ - D| / mean(D), clip), s = mean-ratio.

    The rendered depth is in canonical units and the observation in metres: the per-sample ratio s
    removes the unknown scale; dividing by the mean observed depth makes the loss unit-free.
    """
    check_shape("rendered depth", rendered_depth, (None, None, None))
    for name, x in (("rendered mask", rendered_mask), ("observed depth", observed_depth), ("target mask", target_mask)):
        if x.shape != rendered_depth.shape:
            raise ValueError(f"{name} shape {tuple(x.shape)} differs from {tuple(rendered_depth.shape)}")
    check_positive("clip", clip)
    valid = depth_valid_mask(rendered_mask, observed_depth, target_mask)
    s = mean_depth_ratio(rendered_depth, observed_depth, valid).view(-1, 1, 1)
    obs = torch.where(valid, observed_depth, torch.ones_like(observed_depth))
    mean_obs = (obs * valid).flatten(1).sum(1) / valid.flatten(1).sum(1).clamp(min=1)
    err = (s * rendered_depth - obs).abs() / mean_obs.clamp(min=1e-9).view(-1, 1, 1)
    return weighted_mean(err.clamp(max=clip), valid)


def texture_loss(
    rendered_rgb: torch.Tensor, rendered_mask: torch.Tensor, image: torch.Tensor, target_mask: torch.Tensor
) -> torch.Tensor:
    """CSE texture term: mean over pixels and channels of (I^ S^ - I S)^2; images (B,C,h,w), masks (B,h,w)."""
    check_shape("rendered rgb", rendered_rgb, (None, None, None, None))
    if image.shape != rendered_rgb.shape:
        raise ValueError(f"image shape {tuple(image.shape)} differs from {tuple(rendered_rgb.shape)}")
    if rendered_mask.shape != target_mask.shape or rendered_mask.shape != (
        rendered_rgb.shape[0],
        *rendered_rgb.shape[2:],
    ):
        raise ValueError("masks must be (B,h,w) matching the images")
    pred = rendered_rgb * rendered_mask.unsqueeze(1)
    obs = image * target_mask.to(image).unsqueeze(1)
    return ((pred - obs) ** 2).mean()


def transfer_vertex_colours(match_3d2d: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Texture flow tex_i = sum_j W3D2D_ji I_j: match (B,P,N) with an image (B,C,h,w) at map resolution."""
    B, P, N = match_3d2d.shape
    if image.shape[0] != B or image.shape[2] * image.shape[3] != P:
        raise ValueError(f"image {tuple(image.shape)} does not match a (B={B}, P={P}) correspondence")
    return torch.bmm(match_3d2d.transpose(1, 2), image.flatten(2).transpose(1, 2))


def sample_vertex_colours(image: torch.Tensor, vertex_pixels: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample a crop image (B,C,H,W) at each vertex's expected crop pixel (B,N,2): (B,N,C)."""
    check_shape("vertex pixels", vertex_pixels, (image.shape[0], None, 2))
    return sample_map(image, vertex_pixels, stride=1.0)
