"""U-Net-style decoder from the encoder's stages to L2-normalised per-pixel embeddings at stride 4."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from selfpose_ros.model.encoder import make_norm


class _Fuse(nn.Module):
    """Upsample the coarse map x2, concatenate the skip feature, and mix with two 3x3 convolutions."""

    def __init__(self, coarse_ch: int, skip_ch: int, out_ch: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(coarse_ch + skip_ch, out_ch, 3, 1, 1, bias=False),
            make_norm(out_ch, norm),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False),
            make_norm(out_ch, norm),
            nn.ReLU(inplace=True),
        )

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Fuse a coarse map with its finer skip connection."""
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(torch.cat((up, skip), dim=1))


class PixelDecoder(nn.Module):
    """Decode stage features (strides 4..32) into ``embed_dim`` unit vectors per stride-4 cell.

    ``forward`` returns ``(embeddings, hidden)``: embeddings (B, D, H/4, W/4), L2-normalised over D,
    and the last hidden map (B, hidden_ch, H/4, W/4) that other dense heads (keypoints) can share.
    """

    def __init__(self, channels: tuple[int, ...], embed_dim: int = 64, norm: str = "batch") -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"expected 4 encoder stages, got {len(channels)}")
        c2, c3, c4, c5 = channels
        self.fuse4 = _Fuse(c5, c4, c4, norm)
        self.fuse3 = _Fuse(c4, c3, c3, norm)
        self.fuse2 = _Fuse(c3, c2, c2, norm)
        self.hidden_channels = c2
        self.head = nn.Conv2d(c2, embed_dim, 1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return unit-norm per-pixel embeddings and the shared hidden map."""
        f2, f3, f4, f5 = feats
        x = self.fuse4(f5, f4)
        x = self.fuse3(x, f3)
        hidden = self.fuse2(x, f2)
        emb = F.normalize(self.head(hidden), dim=1, eps=1e-6)
        return emb, hidden
