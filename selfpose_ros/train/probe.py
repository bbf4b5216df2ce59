"""Linear viewpoint probe on a model's frozen global embedding (does the embedding know the pose?).

For each category, a ridge regression (features standardised on the probe's training crops) maps the frozen
global feature of a crop to its viewpoint: the ground-truth rotation's first two columns (6 numbers, Gram-
Schmidt back to a rotation) or, for solids of revolution, only the +Y axis in the camera frame (3 numbers:
their yaw is not a viewpoint). The probe trains on ``fraction`` of one crop cache's crops (chosen with
``seed``) and is scored on another cache of held-out instances by the median rotation error (the
evaluator's symmetry rules). This tests the seed's claim that the trajectory regulariser makes the
embedding pose-aware; the ground truth is read for the probe only, never for training the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.eval.errors import rotation_error_deg
from selfpose_ros.model.cse_model import CSEModel
from selfpose_ros.train.crop_cache import CropCacheDataset


@dataclass
class ProbeResult:
    """Median rotation error (degrees) per category and their mean, for one (fraction, seed)."""

    fraction: float
    seed: int
    train_crops: int
    median_deg: dict[str, float]

    @property
    def mean_deg(self) -> float:
        """Mean over categories of the median errors."""
        return float(np.mean(list(self.median_deg.values())))


@torch.no_grad()
def global_features(model: CSEModel, ds: CropCacheDataset, batch: int = 32, device: str = "cpu") -> np.ndarray:
    """Frozen global features (N, C) of every crop of ``ds`` (RGB-D models get their depth input)."""
    model.eval()
    out = []
    for start in range(0, len(ds), batch):
        items = [ds[i] for i in range(start, min(start + batch, len(ds)))]
        rgb = torch.stack([it["rgb"] for it in items]).to(device)
        mask = torch.stack([it["mask"][0] for it in items]).to(device)
        K = torch.stack([it["K"] for it in items]).to(device)
        depth = torch.stack([it["depth"] for it in items]).to(device) if model.uses_depth else None
        _, g = model.encode(rgb, mask, [it["category_name"] for it in items], K, depth)
        out.append(g.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.encoder.global_dim), np.float32)


def _target(R: np.ndarray, symmetric: bool) -> np.ndarray:
    return R[:, :, 1] if symmetric else R[:, :, :2].transpose(0, 2, 1).reshape(len(R), 6)


def _to_rotation(y: np.ndarray, symmetric: bool) -> np.ndarray:
    """Rotations (N,3,3) from regressed targets; a symmetric target fixes only the Y column."""
    if symmetric:
        b2 = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-9)
        helper = np.where(np.abs(b2[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 0, 1.0]]))
        b1 = helper - (helper * b2).sum(1, keepdims=True) * b2
        b1 /= np.linalg.norm(b1, axis=1, keepdims=True)
        return np.stack((b1, b2, np.cross(b1, b2)), axis=2)
    a1, a2 = y[:, :3], y[:, 3:]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=1, keepdims=True), 1e-9)
    a2 = a2 - (a2 * b1).sum(1, keepdims=True) * b1
    b2 = a2 / np.maximum(np.linalg.norm(a2, axis=1, keepdims=True), 1e-9)
    return np.stack((b1, b2, np.cross(b1, b2)), axis=2)


def ridge_fit(X: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, W) of a ridge regression on standardised features with a bias column."""
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = np.concatenate(((X - mu) / sd, np.ones((len(X), 1))), 1)
    reg = alpha * np.eye(Z.shape[1])
    reg[-1, -1] = 0.0
    W = np.linalg.solve(Z.T @ Z + reg, Z.T @ Y)
    return mu, sd, W


def ridge_predict(X: np.ndarray, mu: np.ndarray, sd: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Predictions of a :func:`ridge_fit` model."""
    return np.concatenate(((X - mu) / sd, np.ones((len(X), 1))), 1) @ W


def run_probe(train: tuple[np.ndarray, np.ndarray, list[str]], test: tuple[np.ndarray, np.ndarray, list[str]],
              fraction: float, seed: int, alpha: float = 10.0, min_train: int = 4) -> ProbeResult:
    """Probe with (features, rotations, categories) of the training and held-out crops."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    Xtr, Rtr, ctr = train
    Xte, Rte, cte = test
    rng = np.random.default_rng(seed)
    medians, used = {}, 0
    for cat in sorted(set(ctr) & set(cte)):
        sym = SYMMETRY.get(cat, "none") == "continuous_y"
        idx = np.flatnonzero(np.array(ctr) == cat)
        n = max(min_train, int(round(fraction * len(idx))))
        pick = rng.choice(idx, size=min(n, len(idx)), replace=False)
        used += len(pick)
        mu, sd, W = ridge_fit(Xtr[pick], _target(Rtr[pick], sym), alpha)
        te = np.flatnonzero(np.array(cte) == cat)
        R_hat = _to_rotation(ridge_predict(Xte[te], mu, sd, W), sym)
        err = rotation_error_deg(R_hat, Rte[te], "continuous_y" if sym else "none")
        medians[cat] = float(np.median(err))
    return ProbeResult(fraction, seed, used, medians)
