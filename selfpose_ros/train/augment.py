"""Photometric augmentation of crop batches (seeded). Geometry is untouched: masks and intrinsics stay exact."""

from __future__ import annotations

import torch

from selfpose_ros.train.config import AugmentConfig

_LUMA = (0.299, 0.587, 0.114)


def _uniform(n: int, half_range: float, gen: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * 2.0 - 1.0).mul_(half_range).to(device)


def _hue_rotate(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``angle`` (B,) radians about the grey axis in RGB space."""
    c, s = torch.cos(angle), torch.sin(angle)
    k = 1.0 / 3.0
    sq = (1.0 / 3.0) ** 0.5
    # Rodrigues rotation about the unit vector (1,1,1)/sqrt(3)
    a = c + (1 - c) * k
    b = (1 - c) * k - sq * s
    d = (1 - c) * k + sq * s
    M = torch.stack((torch.stack((a, b, d), -1), torch.stack((d, a, b), -1), torch.stack((b, d, a), -1)), -2)
    return torch.einsum("bij,bjhw->bihw", M.to(x), x)


def colour_jitter(rgb: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator, strength: float = 1.0
                  ) -> torch.Tensor:
    """Random brightness, contrast, saturation, hue and grayscale per sample of (B,3,H,W) images in [0, 1]."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be (B,3,H,W), got {tuple(rgb.shape)}")
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    B, dev = rgb.shape[0], rgb.device
    x = rgb
    luma = torch.tensor(_LUMA, dtype=rgb.dtype, device=dev).view(1, 3, 1, 1)
    if cfg.brightness > 0:
        x = x * (1.0 + _uniform(B, cfg.brightness * strength, gen, dev)).view(B, 1, 1, 1)
    if cfg.contrast > 0:
        mean = (x * luma).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
        x = mean + (x - mean) * (1.0 + _uniform(B, cfg.contrast * strength, gen, dev)).view(B, 1, 1, 1)
    if cfg.saturation > 0:
        grey = (x * luma).sum(1, keepdim=True)
        x = grey + (x - grey) * (1.0 + _uniform(B, cfg.saturation * strength, gen, dev)).view(B, 1, 1, 1)
    if cfg.hue > 0:
        x = _hue_rotate(x, _uniform(B, min(cfg.hue * strength, 0.5) * 2.0 * torch.pi, gen, dev))
    if cfg.grayscale > 0:
        pick = (torch.rand(B, generator=gen) < min(cfg.grayscale * strength, 1.0)).to(dev).view(B, 1, 1, 1)
        x = torch.where(pick, (x * luma).sum(1, keepdim=True).expand_as(x), x)
    return x.clamp(0.0, 1.0)
