"""Training data for the trainer: the dataset, usable groups, the batch sampler, pose labels (bags: adapt_data)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from selfpose_ros.train.adapt_data import expand_bags
from selfpose_ros.train.config import TrainConfig
from selfpose_ros.train.crop_cache import PL_KEYS, CropCacheDataset
from selfpose_ros.train.dataset_collate import TrajectoryCollate
from selfpose_ros.train.sampler import VideoBatchSampler

log = logging.getLogger(__name__)


def _cells(dataset, index: int, stride: int) -> int:
    if isinstance(dataset, CropCacheDataset):
        return dataset.feature_cells(index)
    from selfpose_ros.train.crop_cache_build import mask_cells

    return mask_cells(dataset.crops[index].mask, stride)


def usable_groups(dataset, min_cells: int, stride: int = 4) -> tuple[list, list]:
    """Groups and frame indices restricted to crops whose mask covers >= ``min_cells`` stride-4 cells."""
    groups, frames = [], []
    for members in dataset.groups:
        keep = []
        for i in members:
            if _cells(dataset, i, stride) >= min_cells:
                keep.append(i)
        if keep:
            groups.append(keep)
            frames.append([dataset.frame_index(i) for i in keep])
    return groups, frames


@dataclass
class TrainData:
    """Everything the loop reads: dataset, sampler, collate, per-index pose labels, model priors."""

    dataset: object  #: TrajectoryDataset (bags) or CropCacheDataset (data.cache)
    sampler: VideoBatchSampler
    collate: TrajectoryCollate
    labels: dict[str, torch.Tensor] | None  #: pseudo-labels by dataset index (self-supervised mode)
    priors: dict[str, tuple[np.ndarray, np.ndarray]]
    stats: dict
    #: per category (lo, hi) of log unit-diagonal extents (the shape plausibility regulariser); None: unused
    extent_ranges: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    #: held-out recorded bags for the self-supervised validation: (dataset, groups, frame indices) or None
    val: tuple | None = None


def _dataset(cfg: TrainConfig, bags: list[Path]):
    from selfpose_ros.data.bag_reader import BagTopics
    from selfpose_ros.train.dataset import TrajectoryDataset

    d = cfg.data
    return TrajectoryDataset(bags, categories=d.categories, crop_size=d.crop_size, mode=d.mode,
                             min_mask_pixels=d.min_mask_pixels, topics=BagTopics(prefix=d.camera_namespace))


def training_bags(cfg: TrainConfig) -> tuple[list[Path], list[Path], list[Path]]:
    """(user bags, replay bags, validation bags) of the config, expanded."""
    from selfpose_ros.train.adapt_data import held_out_split

    d = cfg.data
    train, val = held_out_split(expand_bags(d.bags), expand_bags(d.val_bags, "data.val_bags") if d.val_bags else [],
                                cfg.run.val_every > 0)
    return train, expand_bags(d.replay, "data.replay") if d.replay else [], val


def _cache_dataset(cfg: TrainConfig) -> CropCacheDataset:
    d = cfg.data
    ds = CropCacheDataset(d.cache, d.categories, supervised=d.mode == "supervised")
    if ds.crop_size != d.crop_size:
        raise ValueError(f"data.cache {d.cache} holds {ds.crop_size}-px crops, data.crop_size is {d.crop_size}")
    return ds


def build_data(cfg: TrainConfig, rank: int, world_size: int, out_dir: Path, is_main: bool, barrier) -> TrainData:
    """Read the bags (or the crop cache), make the sampler and (self-supervised mode) the pseudo-labels."""
    d = cfg.data
    cached = bool(d.cache)
    user, replay, val_bags = ([], [], []) if cached else training_bags(cfg)
    ds = _cache_dataset(cfg) if cached else _dataset(cfg, user + replay)
    groups, frames = usable_groups(ds, d.min_feature_cells)
    if not groups:
        raise ValueError("no usable crops: every instance is too small for the model's feature map")
    mix = {}
    if replay:
        from selfpose_ros.train.adapt_data import mix_groups

        is_replay = [ds.frames[ds.crops[g[0]].frame].bag >= len(user) for g in groups]
        groups, frames, mix = mix_groups(groups, frames, is_replay, d.replay_share, cfg.run.seed)
    sampler = VideoBatchSampler(groups, frames, videos=d.videos, frames=d.frames, strategy=d.strategy,
                                chain_videos=d.chain_videos, stride=d.stride, seed=cfg.run.seed, rank=rank,
                                world_size=world_size)
    stats = {"bags": len(ds.bags), "crops": len(ds), "groups": len(groups),
             "usable_crops": sum(len(g) for g in groups), "load_seconds": round(ds.load_seconds, 1), **mix}
    if cached:
        stats["cache"] = str(d.cache)
    labels = None
    if cfg.pseudo_labels.enabled:  # also in supervised mode: the shape-size and handle terms use them
        labels = _cached_labels(cfg, ds) if cached else _pseudo_labels(cfg, ds, out_dir, is_main, barrier)
        if d.mode == "self_supervised":
            stats["pseudo_labels"] = int(labels["valid"].sum())
        stats["typical_scale"] = _typical_scale(ds, labels)
    if cached:
        priors = ds.priors()
        ranges = {c: (ds.category_table("extent_log_lo")[c], ds.category_table("extent_log_hi")[c])
                  for c in d.categories}
    else:
        from selfpose_ros.train.crop_cache_build import shape_extent_ranges
        from selfpose_ros.train.model_priors import model_priors

        priors = model_priors(d.categories, d.prior_vertices)
        lo, hi = shape_extent_ranges(list(d.categories), seed=cfg.run.seed)
        ranges = {c: (lo[k], hi[k]) for k, c in enumerate(d.categories)}
    val = None
    if val_bags and cfg.run.val_every > 0:  # data.val_bags without run.val_every: nothing reads them
        vds = _dataset(cfg, val_bags)
        vgroups, vframes = usable_groups(vds, d.min_feature_cells)
        if not vgroups:
            raise ValueError(f"no usable crops in the validation bags {[str(b) for b in val_bags]}")
        val = (vds, vgroups, vframes)
        stats["val_bags"], stats["val_crops"] = len(val_bags), len(vds)
    return TrainData(ds, sampler, TrajectoryCollate(d.max_triplet_stride), labels, priors, stats, ranges, val)


def _cached_labels(cfg: TrainConfig, ds: CropCacheDataset) -> dict:
    labels = ds.pseudo_labels()
    labels["valid"] = labels["valid"] & (labels["quality"] >= cfg.pseudo_labels.min_quality)
    return labels


def _pseudo_labels(cfg: TrainConfig, ds, out_dir: Path, is_main: bool, barrier) -> dict:
    p = cfg.pseudo_labels
    from selfpose_ros.train.pseudo_labels import PSEUDO_LABEL_VERSION

    key = (f"v{PSEUDO_LABEL_VERSION}|{len(ds)}|{len(ds.groups)}|{ds.bags}|{p.mode}|{p.use_up}|{p.inlier_threshold}|"
           f"{cfg.run.seed}")
    if p.templates:  # (keys of runs without templates stay as they were)
        key += f"|templates{p.templates}"
    cache = out_dir / "pseudo_labels.npz"
    if is_main and not _cache_ok(cache, key):
        from selfpose_ros.train.crop_cache_build import fit_pseudo_labels
        from selfpose_ros.train.pseudo_labels import labels_to_arrays

        labs = fit_pseudo_labels(cfg, ds)
        arrays = labels_to_arrays(labs, len(ds))
        out_dir.mkdir(parents=True, exist_ok=True)
        np.savez(cache, key=np.array(key), **arrays)
        log.info("pseudo-labels: %d of %d crops labelled", len(labs), len(ds))
    barrier()
    with np.load(cache) as z:
        arrays = {k: z[k] for k in PL_KEYS}
    arrays["valid"] = arrays["valid"] & (arrays["quality"] >= p.min_quality)
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def _cache_ok(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    with np.load(path) as z:
        return "key" in z and str(z["key"]) == key


def _category_names(ds) -> list[str]:
    if isinstance(ds, CropCacheDataset):
        return [ds.category_name(i) for i in range(len(ds))]
    return [c.category for c in ds.crops]


def _typical_scale(ds, labels: dict) -> dict[str, float]:
    """Median pseudo-label scale (metres per canonical unit) per category: the RGB-only path's scale."""
    out = {}
    valid = labels["valid"].numpy()
    names = _category_names(ds)
    for cat in dict.fromkeys(names):
        idx = [i for i, c in enumerate(names) if c == cat and valid[i]]
        if idx:
            out[cat] = float(np.median(labels["scale"].numpy()[idx]))
    return out


def batch_labels(cfg: TrainConfig, data: TrainData, batch: dict, device: torch.device) -> dict | None:
    """Label tensors for a collated batch: pose (valid, scale, R, t: ground truth in supervised mode, else the
    pseudo-labels) and, from the pseudo-labels, extents, extents_valid and handle_visible; or None."""
    out = None
    if data.labels is not None:
        idx = batch["index"]
        out = {k: data.labels[k][idx].to(device) for k in ("valid", "scale", "R", "t", "extents", "extents_valid",
                                                            "handle_visible") if k in data.labels}
        out["extents_valid"] = out.get("extents_valid", torch.zeros_like(out["valid"])) & out["valid"]
    if cfg.data.mode == "supervised":
        B = batch["rgb"].shape[0]
        gt = {"valid": torch.ones(B, dtype=torch.bool, device=device), "scale": batch["gt_scale"].to(device),
              "R": batch["gt_R"].to(device), "t": batch["gt_t"].to(device)}
        if "gt_size" in batch:
            gt["extents"], gt["extents_valid"] = batch["gt_size"].to(device), torch.isfinite(
                batch["gt_size"]).all(1).to(device)
        out = {**(out or {}), **gt}
    return out
