"""Training data for the trainer: bag discovery, the dataset, usable groups, the batch sampler, pose labels."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from selfpose_ros.train.config import TrainConfig
from selfpose_ros.train.dataset import TrajectoryDataset
from selfpose_ros.train.dataset_collate import TrajectoryCollate
from selfpose_ros.train.model_priors import model_priors
from selfpose_ros.train.pseudo_labels import PSEUDO_LABEL_VERSION, compute_pseudo_labels, labels_to_arrays
from selfpose_ros.train.sampler import VideoBatchSampler

log = logging.getLogger(__name__)


def expand_bags(paths: list[str]) -> list[Path]:
    """Bag directories from a list of bags or parents of bags (a bag directory holds metadata.yaml)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise ValueError(f"data.bags: {p} does not exist")
        if (p / "metadata.yaml").is_file() or p.suffix in (".mcap", ".db3"):
            out.append(p)
            continue
        subs = sorted(d for d in p.iterdir() if (d / "metadata.yaml").is_file())
        if not subs:
            raise ValueError(f"data.bags: {p} is neither a rosbag2 directory nor a directory of them")
        out.extend(subs)
    return out


def usable_groups(dataset: TrajectoryDataset, min_cells: int, stride: int = 4) -> tuple[list, list]:
    """Groups and frame indices restricted to crops whose mask covers >= ``min_cells`` stride-4 cells."""
    groups, frames = [], []
    for members in dataset.groups:
        keep = []
        for i in members:
            m = dataset.crops[i].mask.astype(np.float32)
            S = m.shape[0] // stride * stride
            cells = m[:S, :S].reshape(S // stride, stride, S // stride, stride).mean(axis=(1, 3)) >= 0.5
            if int(cells.sum()) >= min_cells:
                keep.append(i)
        if keep:
            groups.append(keep)
            frames.append([dataset.frame_index(i) for i in keep])
    return groups, frames


@dataclass
class TrainData:
    """Everything the loop reads: dataset, sampler, collate, per-index pose labels, model priors."""

    dataset: TrajectoryDataset
    sampler: VideoBatchSampler
    collate: TrajectoryCollate
    labels: dict[str, torch.Tensor] | None  #: pseudo-labels by dataset index (self-supervised mode)
    priors: dict[str, tuple[np.ndarray, np.ndarray]]
    stats: dict


def build_data(cfg: TrainConfig, rank: int, world_size: int, out_dir: Path, is_main: bool, barrier) -> TrainData:
    """Read the bags, make the sampler and (self-supervised mode) the cached pseudo-labels."""
    d = cfg.data
    bags = expand_bags(d.bags)
    ds = TrajectoryDataset(bags, categories=d.categories, crop_size=d.crop_size, mode=d.mode,
                           min_mask_pixels=d.min_mask_pixels)
    groups, frames = usable_groups(ds, d.min_feature_cells)
    if not groups:
        raise ValueError("no usable crops: every instance is too small for the model's feature map")
    sampler = VideoBatchSampler(groups, frames, videos=d.videos, frames=d.frames, strategy=d.strategy,
                                chain_videos=d.chain_videos, stride=d.stride, seed=cfg.run.seed, rank=rank,
                                world_size=world_size)
    stats = {"bags": len(bags), "crops": len(ds), "groups": len(groups),
             "usable_crops": sum(len(g) for g in groups), "load_seconds": round(ds.load_seconds, 1)}
    labels = None
    if d.mode == "self_supervised" and cfg.pseudo_labels.enabled:
        labels = _pseudo_labels(cfg, ds, out_dir, is_main, barrier)
        stats["pseudo_labels"] = int(labels["valid"].sum())
        stats["typical_scale"] = _typical_scale(ds, labels)
    priors = model_priors(d.categories, d.prior_vertices)
    return TrainData(ds, sampler, TrajectoryCollate(d.max_triplet_stride), labels, priors, stats)


def _pseudo_labels(cfg: TrainConfig, ds: TrajectoryDataset, out_dir: Path, is_main: bool, barrier) -> dict:
    p = cfg.pseudo_labels
    key = f"v{PSEUDO_LABEL_VERSION}|{len(ds)}|{ds.bags}|{p.mode}|{p.use_up}|{p.inlier_threshold}|{cfg.run.seed}"
    cache = out_dir / "pseudo_labels.npz"
    if is_main and not _cache_ok(cache, key):
        full = {c: v for c, (v, _) in model_priors(cfg.data.categories, 0).items()}
        labs = compute_pseudo_labels(ds, full, p.mode, use_up=p.use_up, inlier_threshold=p.inlier_threshold,
                                     seed=cfg.run.seed)
        arrays = labels_to_arrays(labs, len(ds))
        out_dir.mkdir(parents=True, exist_ok=True)
        np.savez(cache, key=np.array(key), **arrays)
        log.info("pseudo-labels: %d of %d crops labelled", len(labs), len(ds))
    barrier()
    with np.load(cache) as z:
        arrays = {k: z[k] for k in ("valid", "scale", "R", "t", "quality")}
    arrays["valid"] = arrays["valid"] & (arrays["quality"] >= p.min_quality)
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def _cache_ok(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    with np.load(path) as z:
        return "key" in z and str(z["key"]) == key


def _typical_scale(ds: TrajectoryDataset, labels: dict) -> dict[str, float]:
    """Median pseudo-label scale (metres per canonical unit) per category: the RGB-only path's scale."""
    out = {}
    valid = labels["valid"].numpy()
    for cat in ds.categories:
        idx = [i for i, c in enumerate(ds.crops) if c.category == cat and valid[i]]
        if idx:
            out[cat] = float(np.median(labels["scale"].numpy()[idx]))
    return out


def batch_labels(cfg: TrainConfig, data: TrainData, batch: dict, device: torch.device) -> dict | None:
    """Label tensors (valid, scale, R, t) for a collated batch: ground truth or pseudo-labels, or None."""
    if cfg.data.mode == "supervised":
        B = batch["rgb"].shape[0]
        return {"valid": torch.ones(B, dtype=torch.bool, device=device), "scale": batch["gt_scale"].to(device),
                "R": batch["gt_R"].to(device), "t": batch["gt_t"].to(device)}
    if data.labels is None:
        return None
    idx = batch["index"]
    return {k: data.labels[k][idx].to(device) for k in ("valid", "scale", "R", "t")}
