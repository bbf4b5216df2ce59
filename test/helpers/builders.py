"""Builders the tests share: a tiny CSE checkpoint, a simulated bag written by `selfpose sim`, and the surface a
camera sees of a sampled mesh."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def tiny_checkpoint(path: Path, categories: Sequence[str], *, image_size: int = 64, seed: int = 0,
                    prior_vertices: int = 40, model_config: dict | None = None,
                    **save_kwargs: Any) -> tuple[Any, dict, Path]:
    """Save an untrained width-8 CSE model of ``categories`` at ``path``; return (model, priors, path).

    ``model_config``: extra CSEConfig fields (e.g. ``{"input": "rgbd", "handle_head": True}``).
    """
    import torch

    from selfpose_ros.model.checkpoint import save_checkpoint
    from selfpose_ros.model.cse_model import CSEConfig, CSEModel
    from selfpose_ros.train.model_priors import model_priors

    torch.manual_seed(seed)
    priors = model_priors(tuple(categories), prior_vertices)
    model = CSEModel(CSEConfig(image_size=image_size, width=8, projector_dims=(16, 16), num_keypoints=8,
                               **(model_config or {})), priors)
    save_checkpoint(path, model, priors, **save_kwargs)
    return model, priors, path


def simulated_bag(out: Path, categories: Sequence[str], *, frames: int, seed: int, width: int = 200,
                  height: int = 150, trajectory: str = "orbit", extra: Sequence[str] = ()) -> Path:
    """Write a simulated trajectory bag with `selfpose sim` (the real CLI) and return its directory."""
    from selfpose_ros.cli.main import main as selfpose_main

    args = ["sim", "--out", str(out), "--frames", str(frames), "--width", str(width), "--height", str(height),
            "--categories", ",".join(categories), "--seed", str(seed), "--trajectory", trajectory,
            "--no-progress", *extra]
    assert selfpose_main(args) == 0, f"selfpose {' '.join(args)} failed"
    return out


def seen_surface(points, cell: float, distance: float):
    """The points (N, 3) a camera at the origin sees: the nearest one per (x/z, y/z) cell of ``cell`` metres at
    ``distance`` metres (a z-buffer of a dense sampling of a surface)."""
    key = np.round(points[:, :2] / points[:, 2:3] / (cell / distance)).astype(np.int64)
    order = np.argsort(points[:, 2])
    _, first = np.unique(key[order], axis=0, return_index=True)
    return points[order[first]]
