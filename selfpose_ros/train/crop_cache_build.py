"""Write a crop cache (``train/crop_cache.py``) from trajectory bags: crops, pseudo-labels, priors, shape ranges."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from selfpose_ros.train.config import TrainConfig
from selfpose_ros.train.crop_cache import CROPS_FILE, FORMAT, GT_FILE, PL_KEYS, VERSION, encode_depth_png, encode_rgb

log = logging.getLogger(__name__)

#: Margin (log units, about 8 %) added on both sides of the shape library's proportions.
EXTENT_MARGIN = 0.08


def mask_cells(mask: np.ndarray, stride: int = 4) -> int:
    """Stride-``stride`` cells of a square mask covered by at least half (the model's feature cells)."""
    m = np.asarray(mask, np.float32)
    S = m.shape[0] // stride * stride
    return int((m[:S, :S].reshape(S // stride, stride, S // stride, stride).mean(axis=(1, 3)) >= 0.5).sum())


def shape_ranges(categories: list[str], samples: int = 24, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over ``samples`` shape-library instances per category: (lo, hi) (C,3) of log unit-diagonal box extents
    (with EXTENT_MARGIN) and (C,2) the lowest and highest metric box diagonal (metres per canonical unit)."""
    from selfpose_ros.shapes.registry import sample_instance

    rng = np.random.default_rng(seed)
    lo, hi, diag = [], [], []
    for cat in categories:
        logs, scales = [], []
        for _ in range(samples):
            inst = sample_instance(cat, rng, resolution=16)
            logs.append(np.log(inst.extents / np.linalg.norm(inst.extents)))
            scales.extend(inst.scale_range())
        arr = np.array(logs)
        lo.append(arr.min(0) - EXTENT_MARGIN)
        hi.append(arr.max(0) + EXTENT_MARGIN)
        diag.append((min(scales), max(scales)))
    return np.array(lo, np.float32), np.array(hi, np.float32), np.array(diag, np.float32)


def shape_extent_ranges(categories: list[str], samples: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) (C,3) of log unit-diagonal box extents over ``samples`` shape-library instances per category."""
    lo, hi, _ = shape_ranges(categories, samples, seed)
    return lo, hi


def fit_pseudo_labels(cfg: TrainConfig, ds, progress=None, diag: np.ndarray | None = None) -> dict:
    """The pseudo-labels ``cfg.pseudo_labels`` asks for, of a TrajectoryDataset (the cache's and the trainer's).

    ``diag``: the categories' (lowest, highest) diagonals (``shape_ranges(...)[2]``) when the caller has them.
    """
    from selfpose_ros.conventions import SYMMETRY
    from selfpose_ros.shapes.templates import shape_templates
    from selfpose_ros.train.model_priors import model_priors
    from selfpose_ros.train.pseudo_labels import compute_pseudo_labels

    p, cats = cfg.pseudo_labels, list(cfg.data.categories)
    full = {c: v for c, (v, _) in model_priors(cats, 0).items()}
    if diag is None:
        diag = shape_ranges(cats, seed=cfg.run.seed)[2]
    templates = {c: shape_templates(c, p.templates, seed=cfg.run.seed) for c in cats
                 if p.templates and SYMMETRY.get(c) != "continuous_y"}  # templates settle yaw, which these lack
    boxes = None
    if p.mode == "fusion":
        from selfpose_ros.train.fusion_labels import fused_boxes

        boxes = fused_boxes(ds, workers=p.workers or os.cpu_count() or 1)
        log.info("pseudo-labels: pose_estimator's fusion boxed %d of %d trajectories", len(boxes), len(ds.groups))
    return compute_pseudo_labels(ds, full, "trajectory" if p.mode == "fusion" else p.mode, use_up=p.use_up,
                                 boxes=boxes, inlier_threshold=p.inlier_threshold,
                                 seed=cfg.run.seed, progress=progress, templates=templates,
                                 scale_ranges={c: (float(a), float(b)) for c, (a, b) in zip(cats, diag)})


def _concat(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return np.frombuffer(b"".join(blobs), np.uint8).copy(), offsets


def _typical_scale(categories: list[str], cat_idx: np.ndarray, arrays: dict, min_quality: float) -> np.ndarray:
    out = []
    for c in range(len(categories)):
        ok = (cat_idx == c) & arrays["valid"] & (arrays["quality"] >= min_quality)
        out.append(float(np.median(arrays["scale"][ok])) if ok.any() else float("nan"))
    return np.array(out, np.float32)


def build_crop_cache(cfg: TrainConfig, out: str | Path, ground_truth: bool = False, rgb_codec: str = "jpeg",
                     progress: bool = False) -> dict:
    """Read ``cfg.data.bags``, fit the pseudo-labels and write ``out/crops.npz`` (+ ``ground_truth.npz``)."""
    from selfpose_ros.train.adapt_data import expand_bags
    from selfpose_ros.train.dataset import TrajectoryDataset
    from selfpose_ros.train.model_priors import model_priors
    from selfpose_ros.train.pseudo_labels import labels_to_arrays

    d, p = cfg.data, cfg.pseudo_labels
    out = Path(out)
    if (out / CROPS_FILE).exists():
        raise ValueError(f"{out / CROPS_FILE} already exists; choose a new directory")
    t0 = time.perf_counter()
    bags = expand_bags(d.bags)
    ds = TrajectoryDataset(bags, categories=d.categories, crop_size=d.crop_size,
                           mode="supervised" if ground_truth else "self_supervised", min_mask_pixels=d.min_mask_pixels)
    t_read = time.perf_counter() - t0
    wrap = None
    if progress:
        from tqdm import tqdm

        def wrap(x):
            return tqdm(x, desc="pseudo-labels")
    cats = list(d.categories)
    lo, hi, diag = shape_ranges(cats, seed=cfg.run.seed)
    labels = fit_pseudo_labels(cfg, ds, wrap, diag)
    arrays = labels_to_arrays(labels, len(ds))
    t_labels = time.perf_counter() - t0 - t_read
    cat_idx = np.array([cats.index(c.category) for c in ds.crops], np.int64)
    rgb, rgb_off = _concat([encode_rgb(c.rgb, rgb_codec) for c in ds.crops])
    dep, dep_off = _concat([encode_depth_png(c.depth) for c in ds.crops])
    z: dict[str, np.ndarray] = {
        "format": np.array(FORMAT), "version": np.array(VERSION), "crop_size": np.array(d.crop_size),
        "categories": np.array(cats), "bags": np.array([str(b) for b in ds.bags]),
        "rgb_bytes": rgb, "rgb_offsets": rgb_off, "depth_bytes": dep, "depth_offsets": dep_off,
        "mask_bits": np.stack([np.packbits(c.mask.reshape(-1)) for c in ds.crops]),
        "K": np.stack([c.K for c in ds.crops]).astype(np.float32), "category": cat_idx,
        "frame": np.array([c.frame for c in ds.crops], np.int64),
        "label": np.array([c.label for c in ds.crops], np.int64),
        "instance": np.array([c.instance for c in ds.crops], np.int64),
        "pixels": np.array([c.pixels for c in ds.crops], np.int64),
        "median_depth": np.array([c.median_depth for c in ds.crops], np.float32),
        "visibility": np.array([c.visibility for c in ds.crops], np.float32),
        "feature_cells": np.array([mask_cells(c.mask) for c in ds.crops], np.int64),
        "frame_bag": np.array([f.bag for f in ds.frames], np.int64),
        "frame_stamp_ns": np.array([f.stamp_ns for f in ds.frames], np.int64),
        "frame_T_map_cam": np.stack([f.T_map_cam for f in ds.frames]).astype(np.float64),
        "frame_segment": np.array([f.segment for f in ds.frames], np.int64),
        "frame_index": np.array([f.index for f in ds.frames], np.int64),
        "typical_scale": _typical_scale(cats, cat_idx, arrays, p.min_quality),
        "extent_log_lo": lo, "extent_log_hi": hi, "scale_range": diag,
    }
    z.update({f"pl_{k}": arrays[k] for k in PL_KEYS})
    for c, (v, f) in model_priors(cats, d.prior_vertices).items():
        z[f"prior_vertices_{c}"], z[f"prior_faces_{c}"] = np.asarray(v, np.float32), np.asarray(f, np.int64)
    out.mkdir(parents=True, exist_ok=True)
    _save(out / CROPS_FILE, z)
    if ground_truth:
        gts = [c.ground_truth for c in ds.crops]
        _save(out / GT_FILE, {"gt_R": np.stack([g.R for g in gts]).astype(np.float32),
                              "gt_t": np.stack([g.t for g in gts]).astype(np.float32),
                              "gt_scale": np.array([g.scale for g in gts], np.float32),
                              "gt_size": np.stack([g.size if g.size is not None else np.full(3, np.nan)
                                                   for g in gts]).astype(np.float32)})
    stats = {"bags": len(bags), "frames": len(ds.frames), "crops": len(ds), "groups": len(ds.groups),
             "pseudo_labels": int(arrays["valid"].sum()), "extents_valid": int(arrays["extents_valid"].sum()),
             "read_seconds": round(t_read, 1), "label_seconds": round(t_labels, 1),
             "megabytes": round(sum(f.stat().st_size for f in out.glob("*.npz")) / 2**20, 1),
             "skipped": dict(ds.skipped)}
    log.info("crop cache %s: %s", out, stats)
    return stats


def _save(path: Path, arrays: dict) -> None:
    """np.savez to a temporary name, then rename: a stopped build never leaves a half-written cache."""
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def resize_crop_cache(src: str | Path, dst: str | Path, size: int, rgb_codec: str = "jpeg") -> dict:
    """Write a copy of the cache at ``src`` with ``size``-px crops (same windows, intrinsics rescaled).

    Colour is area-resampled, depth takes the nearest reading, the mask is area-resampled and kept where at
    least half covered; the pseudo-labels (camera frame) and everything else are copied unchanged.
    """
    import cv2

    from selfpose_ros.train.crop_cache import CropCacheDataset

    src_ds = CropCacheDataset(src)
    dst = Path(dst)
    if (dst / CROPS_FILE).exists():
        raise ValueError(f"{dst / CROPS_FILE} already exists; choose a new directory")
    S = src_ds.crop_size
    f = size / S
    A = np.array([[f, 0.0, 0.5 * f - 0.5], [0.0, f, 0.5 * f - 0.5], [0.0, 0.0, 1.0]])  # u' = f (u + 0.5) - 0.5
    rgbs, depths, masks = [], [], []
    for i in range(len(src_ds)):
        rgb, depth, mask = src_ds.decode(i)
        rgbs.append(encode_rgb(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA), rgb_codec))
        depths.append(encode_depth_png(cv2.resize(depth, (size, size), interpolation=cv2.INTER_NEAREST)))
        masks.append(cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) >= 0.5)
    z = dict(src_ds.z)
    z["crop_size"] = np.array(size)
    z["rgb_bytes"], z["rgb_offsets"] = _concat(rgbs)
    z["depth_bytes"], z["depth_offsets"] = _concat(depths)
    z["mask_bits"] = np.stack([np.packbits(m.reshape(-1)) for m in masks])
    z["K"] = (A[None] @ src_ds.z["K"].astype(np.float64)).astype(np.float32)
    z["feature_cells"] = np.array([mask_cells(m) for m in masks], np.int64)
    dst.mkdir(parents=True, exist_ok=True)
    _save(dst / CROPS_FILE, z)
    gt = Path(src) / GT_FILE
    if gt.is_file():
        import shutil

        shutil.copyfile(gt, dst / GT_FILE)
    return {"crops": len(src_ds), "crop_size": size}
