"""Network input of the RGB-D model: colour, the crop's depth normalised per crop, a validity channel, normals.

Input modes (``CSEConfig.input``):

- ``rgb`` (3 channels): colour only (the first model; the keypoint/PnP path needs nothing else);
- ``rgbd`` (5): colour, normalised depth, validity;
- ``rgbdn`` (8): as ``rgbd`` plus camera-frame surface normals from the depth.

Normalised depth = ``clamp((d - m) / s, -clip, clip)`` where ``m`` is the median valid depth inside the
object's mask (so the object sits near 0 whatever its distance) and ``s`` is the category's typical size in
metres (so a mug and a laptop both span about [-0.5, 0.5]). Pixels without a reading (0, NaN, inf) are 0 in
every depth channel and 0 in the validity channel. A crop with no valid reading at all is exactly the RGB-only
input the model sees under depth dropout in training, so one model serves both modes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Number of network input channels per mode.
INPUT_CHANNELS = {"rgb": 3, "rgbd": 5, "rgbdn": 8}


def input_channels(mode: str) -> int:
    """Channels of input ``mode``; ValueError naming the known modes otherwise."""
    try:
        return INPUT_CHANNELS[mode]
    except KeyError:
        raise ValueError(f"unknown input mode {mode!r}; known: {sorted(INPUT_CHANNELS)}") from None


def depth_validity(depth: torch.Tensor) -> torch.Tensor:
    """1 where a depth reading exists (finite and > 0), else 0; same shape and dtype as ``depth``."""
    return (torch.isfinite(depth) & (depth > 0)).to(depth.dtype)


def object_median_depth(depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Median valid depth (B,) inside each (B,1,S,S) mask; the crop's median if the mask has none; 0 if none."""
    B = depth.shape[0]
    valid = depth_validity(depth) > 0
    flat = depth.reshape(B, -1)
    inside = (valid & (mask.reshape_as(depth) > 0.5)).reshape(B, -1)
    anywhere = valid.reshape(B, -1)
    nan = torch.full_like(flat, float("nan"))
    med_in = torch.nanmedian(torch.where(inside, flat, nan), dim=1).values
    med_all = torch.nanmedian(torch.where(anywhere, flat, nan), dim=1).values
    med = torch.where(inside.any(1), med_in, med_all)
    return torch.nan_to_num(med, nan=0.0)


def normalised_depth(depth: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor, clip: float = 3.0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised depth, validity), both (B,1,S,S), for metric depth (B,1,S,S), masks and per-sample sizes (B,)."""
    if depth.dim() != 4 or depth.shape[1] != 1:
        raise ValueError(f"depth must be (B,1,S,S), got {tuple(depth.shape)}")
    if scale.shape != (depth.shape[0],) or not bool((scale > 0).all()):
        raise ValueError(f"scale must be (B,) positive metres, got {tuple(scale.shape)}")
    valid = depth_validity(depth)
    med = object_median_depth(depth, mask).view(-1, 1, 1, 1)
    d = torch.where(valid > 0, depth, med.expand_as(depth))
    norm = ((d - med) / scale.view(-1, 1, 1, 1).to(depth)).clamp(-clip, clip) * valid
    return norm, valid


def depth_normals(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Unit camera-frame normals (B,3,S,S) from central differences of the back-projected depth; 0 without support.

    A normal needs valid depth at the pixel and its four neighbours; elsewhere it is 0. Normals face the camera.
    """
    B, _, H, W = depth.shape
    valid = depth_validity(depth)
    d = torch.where(valid > 0, depth, torch.zeros_like(depth))[:, 0]
    v, u = torch.meshgrid(torch.arange(H, device=depth.device, dtype=depth.dtype),
                          torch.arange(W, device=depth.device, dtype=depth.dtype), indexing="ij")
    fx, fy = K[:, 0, 0].view(B, 1, 1), K[:, 1, 1].view(B, 1, 1)
    cx, cy = K[:, 0, 2].view(B, 1, 1), K[:, 1, 2].view(B, 1, 1)
    X = torch.stack(((u - cx) / fx * d, (v - cy) / fy * d, d), 1)  # (B,3,H,W)
    pad = F.pad(X, (1, 1, 1, 1), mode="replicate")
    du = pad[:, :, 1:-1, 2:] - pad[:, :, 1:-1, :-2]
    dv = pad[:, :, 2:, 1:-1] - pad[:, :, :-2, 1:-1]
    n = torch.cross(du, dv, dim=1)
    n = F.normalize(n, dim=1, eps=1e-12)
    n = torch.where((n[:, 2:3] > 0).expand_as(n), -n, n)  # towards the camera (-z)
    vpad = F.pad(valid, (1, 1, 1, 1))
    support = valid * vpad[:, :, 1:-1, 2:] * vpad[:, :, 1:-1, :-2] * vpad[:, :, 2:, 1:-1] * vpad[:, :, :-2, 1:-1]
    return n * support


def build_input(rgb: torch.Tensor, depth: torch.Tensor | None, mask: torch.Tensor, K: torch.Tensor,
                scale: torch.Tensor, mode: str, clip: float = 3.0) -> torch.Tensor:
    """Network input (B,C,S,S) of ``mode`` from RGB (B,3,S,S) in [0,1], metric depth (B,1,S,S) or None, masks.

    ``depth=None`` (or no valid reading) gives zeros in every depth channel: the RGB-only input.
    """
    channels = input_channels(mode)
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be (B,3,S,S), got {tuple(rgb.shape)}")
    if channels == 3:
        return rgb
    B, _, H, W = rgb.shape
    if depth is None:
        return torch.cat((rgb, rgb.new_zeros(B, channels - 3, H, W)), 1)
    if depth.shape != (B, 1, H, W):
        raise ValueError(f"depth must be {(B, 1, H, W)}, got {tuple(depth.shape)}")
    depth = depth.to(rgb)
    norm, valid = normalised_depth(depth, mask.reshape(B, 1, H, W), scale, clip)
    parts = [rgb, norm, valid]
    if mode == "rgbdn":
        parts.append(depth_normals(depth, K.to(rgb)))
    return torch.cat(parts, 1)
