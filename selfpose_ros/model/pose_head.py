"""Pose head: global feature -> 6D rotation (Gram-Schmidt) and crop-relative translation.

Translation parameterisation (crop of size H x W with intrinsics ``K_crop``):
  the head outputs ``a = (a_x, a_y, a_z)``;
  the object centre projects to crop pixel ``u = (W - 1)/2 + a_x W/2``, ``v = (H - 1)/2 + a_y H/2``
  (so ``a_x, a_y`` are offsets from the crop centre in half-crop units);
  its depth is ``t_z = (f_x / W) * z0 * exp(a_z')`` with ``a_z' = 4 tanh(a_z / 4)`` (the t_z offset ``z0``
  is the object's depth in units of "focal length per crop width"; z0 = 1 means a unit-diagonal object
  spans about the crop width);
  ``t = t_z * K_crop^-1 [u, v, 1]^T``: the principal-point correction, valid for any crop placement
  (the crop's principal point need not be its centre).
Scale is fixed to 1 (canonical units: the prior's box diagonal is 1), as in the reference.
"""

from __future__ import annotations

import torch
from torch import nn

from selfpose_ros.geometry.rotations import rotation_6d_to_matrix
from selfpose_ros.model.camera import backproject_pixels, check_intrinsics


class PoseHead(nn.Module):
    """3 x (Linear + LeakyReLU 0.1) -> Linear(6) rotation; Linear(3) translation from the global feature."""

    def __init__(self, in_dim: int, hidden: int = 128, z0: float = 1.0) -> None:
        super().__init__()
        if z0 <= 0:
            raise ValueError(f"z0 must be positive, got {z0}")
        self.z0 = z0
        self.rot_mlp = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.1),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.1),
        )
        self.rot_out = nn.Linear(hidden, 6)
        self.trans_out = nn.Linear(in_dim, 3)
        with torch.no_grad():  # start near the identity rotation and the crop centre at depth z0
            self.rot_out.weight.mul_(0.01)
            self.rot_out.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))
            self.trans_out.weight.mul_(0.01)
            self.trans_out.bias.zero_()

    def forward(
        self, feature: torch.Tensor, K_crop: torch.Tensor, image_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (R (B,3,3), t (B,3), raw 6D (B,6)) for features (B,C) and crop intrinsics."""
        B = feature.shape[0]
        K = check_intrinsics(K_crop, B).to(feature)
        d6 = self.rot_out(self.rot_mlp(feature))
        R = rotation_6d_to_matrix(d6)
        t = decode_translation(self.trans_out(feature), K, image_size, self.z0)
        return R, t, d6


def decode_translation(raw: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int], z0: float) -> torch.Tensor:
    """Map raw head outputs (B,3) to a camera-frame translation (B,3); see the module docstring."""
    H, W = image_size
    u = (W - 1) / 2.0 + raw[:, 0] * W / 2.0
    v = (H - 1) / 2.0 + raw[:, 1] * H / 2.0
    az = 4.0 * torch.tanh(raw[:, 2] / 4.0)
    z = K[:, 0, 0] / W * z0 * torch.exp(az)
    return backproject_pixels(torch.stack((u, v), -1).unsqueeze(1), z.unsqueeze(1), K).squeeze(1)


def encode_translation(t: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int], z0: float) -> torch.Tensor:
    """Inverse of :func:`decode_translation` (for tests and initialisation); needs t_z in the exp range."""
    H, W = image_size
    u = K[:, 0, 0] * t[:, 0] / t[:, 2] + K[:, 0, 2]
    v = K[:, 1, 1] * t[:, 1] / t[:, 2] + K[:, 1, 2]
    ax = (u - (W - 1) / 2.0) * 2.0 / W
    ay = (v - (H - 1) / 2.0) * 2.0 / H
    az = torch.log(t[:, 2] * W / (K[:, 0, 0] * z0))
    if (az.abs() >= 4.0).any():
        raise ValueError("depth outside the representable range of the translation head")
    raw_z = 4.0 * torch.atanh(az / 4.0)
    return torch.stack((ax, ay, raw_z), dim=-1)
