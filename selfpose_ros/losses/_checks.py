"""Shared input checks and masked means of the loss functions."""

from __future__ import annotations

import torch


def check_shape(name: str, x: torch.Tensor, shape: tuple) -> None:
    """Raise ValueError unless ``x`` has ``shape`` (None entries match any size)."""
    if x.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        raise ValueError(f"{name} must have shape {shape} (None = any), got {tuple(x.shape)}")


def check_positive(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` > 0."""
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")


def weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum(w * v) / sum(w); zero (still on the graph) when all weights are zero."""
    w = weight.to(values.dtype)
    return (values * w).sum() / w.sum().clamp(min=1e-12)
