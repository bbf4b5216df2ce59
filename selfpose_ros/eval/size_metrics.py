"""Size metrics of matched predictions: share of objects with every axis within a ratio band, and the
per-category correlation between predicted and true per-axis extents (does the shape vary with the instance?)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from selfpose_ros.conventions import SYMMETRY


def _sizes(pairs: Sequence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    by_cat: dict[str, list] = defaultdict(list)
    for p in pairs:
        if p.pred_size is not None and p.gt_size is not None:
            by_cat[p.category].append((np.asarray(p.pred_size, float), np.asarray(p.gt_size, float)))
    return {c: (np.array([a for a, _ in v]), np.array([b for _, b in v])) for c, v in by_cat.items()}


def size_within_share(pairs: Sequence, low: float = 0.8, high: float = 1.25) -> dict[str, float]:
    """Per category (and 'all'): share of matched pairs whose every axis ratio pred/gt is in [low, high].

    Solids of revolution compare x and z after sorting (their two horizontal axes are interchangeable).
    """
    out, hits, total = {}, 0, 0
    for cat, (pred, gt) in sorted(_sizes(pairs).items()):
        if SYMMETRY.get(cat) == "continuous_y":
            pred = np.concatenate((np.sort(pred[:, [0, 2]], 1), pred[:, 1:2]), 1)
            gt = np.concatenate((np.sort(gt[:, [0, 2]], 1), gt[:, 1:2]), 1)
        ok = np.all((pred / gt >= low) & (pred / gt <= high), axis=1)
        out[cat] = float(ok.mean())
        hits, total = hits + int(ok.sum()), total + len(ok)
    out["all"] = hits / total if total else float("nan")
    return out


def size_off_by_count(pairs: Sequence, factor: float = 2.0) -> dict[str, int]:
    """Per category (and 'all'): matched pairs with some axis ratio pred/gt above ``factor`` or below 1/factor."""
    out, total = {}, 0
    for cat, (pred, gt) in sorted(_sizes(pairs).items()):
        if SYMMETRY.get(cat) == "continuous_y":
            pred = np.concatenate((np.sort(pred[:, [0, 2]], 1), pred[:, 1:2]), 1)
            gt = np.concatenate((np.sort(gt[:, [0, 2]], 1), gt[:, 1:2]), 1)
        ratio = pred / gt
        out[cat] = int(np.any((ratio > factor) | (ratio < 1.0 / factor), axis=1).sum())
        total += out[cat]
    out["all"] = total
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def extent_correlation(pairs: Sequence, proportions: bool = False) -> dict[str, dict[str, float]]:
    """Per category: Pearson r of predicted vs true extent on each axis ('x', 'y', 'z') and their mean.

    With ``proportions``, extents are divided by the box diagonal first (shape only, not overall size). Each
    matched pair counts once per frame, so instances seen in more frames weigh more.
    """
    out = {}
    for cat, (pred, gt) in sorted(_sizes(pairs).items()):
        if proportions:
            pred = pred / np.linalg.norm(pred, axis=1, keepdims=True)
            gt = gt / np.linalg.norm(gt, axis=1, keepdims=True)
        r = {ax: _pearson(pred[:, k], gt[:, k]) for k, ax in enumerate("xyz")}
        if SYMMETRY.get(cat) == "continuous_y":
            r.pop("z")  # the same as x for solids of revolution
        vals = [v for v in r.values() if np.isfinite(v)]
        r["mean"] = float(np.mean(vals)) if vals else float("nan")
        r["n"] = float(len(pred))
        out[cat] = r
    return out
