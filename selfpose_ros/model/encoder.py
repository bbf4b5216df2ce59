"""ResNet-18-class image encoder, trained from scratch, with configurable width."""

from __future__ import annotations

import torch
from torch import nn


def make_norm(channels: int, kind: str) -> nn.Module:
    """Return a normalisation layer: 'batch' (BatchNorm2d) or 'group' (GroupNorm, up to 8 groups)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"unknown norm {kind!r}; use 'batch' or 'group'")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.norm1 = make_norm(out_ch, norm)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.norm2 = make_norm(out_ch, norm)
        self.act = nn.ReLU(inplace=True)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.skip = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), make_norm(out_ch, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.act(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act(y + self.skip(x))


class ResNetEncoder(nn.Module):
    """ResNet-18 layout (stem + 4 stages of 2 basic blocks); ``width`` is the first stage's channels.

    ``in_channels``: 3 for RGB, 5 or 8 for the RGB-D inputs of ``model/depth_input.py``.

    ``forward`` returns ``(features, global_feature)``: features at strides 4, 8, 16, 32 with
    ``width * (1, 2, 4, 8)`` channels, and the spatial mean of the last stage (``8 * width``-d).
    width=64 is the standard ResNet-18 (512-d global feature).
    """

    def __init__(self, width: int = 64, blocks_per_stage: int = 2, norm: str = "batch", in_channels: int = 3) -> None:
        super().__init__()
        if width < 1 or blocks_per_stage < 1 or in_channels < 1:
            raise ValueError(f"width, blocks_per_stage and in_channels must be >= 1, got {width}, {blocks_per_stage}, "
                             f"{in_channels}")
        self.in_channels = in_channels
        self.channels = tuple(width * m for m in (1, 2, 4, 8))
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
            make_norm(width, norm),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages = []
        in_ch = width
        for i, out_ch in enumerate(self.channels):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(in_ch, out_ch, stride, norm)]
            layers += [BasicBlock(out_ch, out_ch, 1, norm) for _ in range(blocks_per_stage - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():  # zero-init the last norm of each residual branch (stable from scratch)
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.norm2.weight)

    @property
    def global_dim(self) -> int:
        """Dimension of the global feature."""
        return self.channels[-1]

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Encode (B, C, H, W) inputs (C = in_channels; H, W divisible by 32) into multi-scale and global features."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B,{self.in_channels},H,W), got {tuple(images.shape)}")
        if images.shape[2] % 32 or images.shape[3] % 32:
            raise ValueError(f"image size {tuple(images.shape[2:])} must be divisible by 32")
        x = self.stem(images)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats, x.mean(dim=(2, 3))
