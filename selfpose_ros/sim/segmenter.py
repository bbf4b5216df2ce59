"""Instance masks as a real segmenter produces them, from the exact panoptic labels of the render.

Per instance (severity drawn once per sequence): boundaries dilated onto the background and onto farther
neighbours (bleeding) or eroded, jagged edges, holes, small spurious blobs, a part lost to a phantom
occluder, and now and then a split into two labels; per frame, now and then two touching instances merged
into one. Only the published segmentation changes; ground truth stays exact. Each step is a pure function
of its inputs and generator, working on the instance's bounding box (OpenCV distance transforms).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from selfpose_ros.conventions import LABEL_DIVISOR
from selfpose_ros.sim.noise_fields import smooth_normal_field
from selfpose_ros.sim.realism import SegmenterNoise

#: A split-off part of instance i is published as instance i + SPLIT_OFFSET of the same category.
SPLIT_OFFSET = 500


@dataclass(frozen=True)
class InstanceSeverity:
    """How badly the segmenter treats one instance for a whole sequence."""

    bleeds: bool  # dilates onto its surroundings (else erodes)
    width: float  # mean boundary displacement, pixels (outward when bleeding, inward otherwise)


def draw_severities(labels: list[int], config: SegmenterNoise, rng: np.random.Generator) -> dict[int, InstanceSeverity]:
    """Per-instance severity for a sequence: bleeding or eroding, and how many pixels."""
    out = {}
    for label in labels:
        bleeds = bool(rng.uniform() < config.bleed_fraction)
        lo, hi = config.bleed_px if bleeds else config.erode_px
        out[int(label)] = InstanceSeverity(bleeds, float(rng.uniform(lo, hi)))
    return out


def _distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (float32) of each pixel to the nearest pixel outside ``mask`` (0 outside)."""
    return cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def bleed(mask: np.ndarray, width: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Add the pixels of ``allowed`` within ``width`` (per pixel, >= 0) of ``mask``; never removes a pixel."""
    reach = _distance(~mask)
    return mask | (allowed & (reach <= width))


def erode(mask: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Remove the pixels of ``mask`` within ``width`` (per pixel) of its outside; never adds a pixel."""
    depth_in = _distance(mask)
    return mask & (depth_in > width)


def _ellipse(
    shape: tuple[int, int], centre: tuple[float, float], radius: float, rng: np.random.Generator
) -> tuple[tuple[slice, slice], np.ndarray]:
    """A filled random ellipse: (the window of ``shape`` it covers, its bool mask inside that window)."""
    ax = (max(1, int(round(radius * rng.uniform(0.6, 1.4)))), max(1, int(round(radius * rng.uniform(0.6, 1.4)))))
    angle = float(rng.uniform(0, 180))
    r = max(ax) + 1
    cx, cy = int(centre[0]), int(centre[1])
    y0, x0 = max(0, cy - r), max(0, cx - r)
    y1, x1 = min(shape[0], cy + r + 1), min(shape[1], cx + r + 1)
    patch = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    if patch.size:
        cv2.ellipse(patch, (cx - x0, cy - y0), ax, angle, 0, 360, 1, -1)
    return (slice(y0, y1), slice(x0, x1)), patch.view(bool)


def punch_holes(mask: np.ndarray, count: int, radius: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Remove ``count`` elliptic holes centred on mask pixels; never adds a pixel."""
    out = mask.copy()
    ys, xs = np.nonzero(mask)
    for _ in range(count if len(ys) else 0):
        i = rng.integers(len(ys))
        window, hole = _ellipse(mask.shape, (xs[i], ys[i]), rng.uniform(*radius), rng)
        out[window] &= ~hole
    return out


def cut_by_occluder(mask: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Remove about ``fraction`` of the mask on one side of a random straight occluder edge."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return mask.copy()
    a = rng.uniform(0, 2 * np.pi)
    proj = xs * np.cos(a) + ys * np.sin(a)
    cut = proj > np.quantile(proj, 1.0 - fraction)
    out = mask.copy()
    out[ys[cut], xs[cut]] = False
    return out


def split_line(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The part (bool) of the mask on one side of a random line through its centroid."""
    ys, xs = np.nonzero(mask)
    part = np.zeros_like(mask)
    if len(ys) == 0:
        return part
    a = rng.uniform(0, np.pi)
    side = (xs - xs.mean()) * np.cos(a) + (ys - ys.mean()) * np.sin(a) > 0
    part[ys[side], xs[side]] = True
    return part


def _box(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (
        slice(max(0, ys.min() - pad), min(h, ys.max() + pad + 1)),
        slice(max(0, xs.min() - pad), min(w, xs.max() + pad + 1)),
    )


def _instance_mask(
    label: int,
    sev: InstanceSeverity,
    config: SegmenterNoise,
    crop: np.ndarray,
    allowed: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """The degraded mask of one instance inside its crop of the exact label image."""
    mask = crop == label
    shape = mask.shape
    wobble = np.clip(1.0 + 0.4 * smooth_normal_field(rng, shape, 16.0), 0.2, 1.8)
    jag = np.float32(config.jag_px) * smooth_normal_field(rng, shape, 2.0) if config.jag_px > 0 else 0.0
    if sev.bleeds:
        mask = bleed(mask, np.float32(sev.width) * wobble + np.abs(jag), allowed)
    elif sev.width > 0 or config.jag_px > 0:
        mask = erode(mask, np.float32(sev.width) * wobble + jag)
    area = int(mask.sum())
    if area >= 150 and config.holes > 0:
        mask = punch_holes(mask, int(rng.poisson(config.holes)), config.hole_px, rng)
    if area >= 100 and rng.uniform() < config.occluder_cut:
        mask = cut_by_occluder(mask, float(rng.uniform(*config.cut_fraction)), rng)
    return mask


def instance_boxes(labels: np.ndarray, depth: np.ndarray, known: list[int]) -> dict[int, tuple[int, ...]]:
    """(row min, row max, col min, col max, mean depth) of every label of ``known`` present in ``labels``.

    One pass over the labelled pixels (sorted by label with a searchsorted, reduced with reduceat) instead of
    one full-image comparison per label.
    """
    keys = np.array(sorted(known), dtype=labels.dtype)
    flat = labels.ravel()
    idx = np.flatnonzero(flat)
    if idx.size == 0 or keys.size == 0:
        return {}
    vals = flat[idx]
    pos = np.minimum(np.searchsorted(keys, vals), keys.size - 1)
    hit = keys[pos] == vals
    idx, pos = idx[hit], pos[hit]
    order = np.argsort(pos, kind="stable")
    idx, pos = idx[order], pos[order]
    present, starts, counts = np.unique(pos, return_index=True, return_counts=True)
    rows, cols = np.divmod(idx, labels.shape[1])
    depth_sum = np.add.reduceat(depth.ravel()[idx].astype(np.float64), starts)
    out = {}
    for k, start, count, s, c_lo, c_hi in zip(
        present,
        starts,
        counts,
        depth_sum,
        np.minimum.reduceat(cols, starts),
        np.maximum.reduceat(cols, starts),
        strict=True,
    ):
        out[int(keys[k])] = (int(rows[start]), int(rows[start + count - 1]), int(c_lo), int(c_hi), float(s / count))
    return out


def degrade_segmentation(
    labels: np.ndarray,
    depth: np.ndarray,
    severities: dict[int, InstanceSeverity],
    config: SegmenterNoise,
    rng: np.random.Generator,
) -> np.ndarray:
    """The segmentation a real segmenter would publish for the exact ``labels`` (H, W int32, 0 = background).

    ``depth`` (true, 0 = none) orders the instances: nearer ones are drawn last and may bleed over farther
    ones, never the reverse. Labels without a severity (not in the sequence) are left unchanged.
    """
    if labels.shape != depth.shape:
        raise ValueError(f"labels {labels.shape} and depth {depth.shape} differ in shape")
    boxes = instance_boxes(labels, depth, list(severities))
    out = labels.copy()
    if not boxes:
        return out
    order = sorted(boxes, key=lambda lab: -boxes[lab][4])  # far first
    h, w = labels.shape
    pad = int(np.ceil(max(max(config.bleed_px), max(config.erode_px)) * 2.0 + 3 * config.jag_px)) + 2
    for i, lab in enumerate(order):
        r0, r1, c0, c1, _ = boxes[lab]
        ys, xs = slice(max(0, r0 - pad), min(h, r1 + pad + 1)), slice(max(0, c0 - pad), min(w, c1 + pad + 1))
        crop = labels[ys, xs]
        # Bleeding reaches the background and instances drawn before this one (farther away).
        allowed = crop == 0
        for farther in order[:i]:
            allowed |= crop == farther
        new = _instance_mask(lab, severities[lab], config, crop, allowed, rng)
        region = out[ys, xs]
        region[(crop == lab) & ~new & (region == lab)] = 0
        region[new] = lab
        if config.spurious_blobs > 0:
            _add_blobs(out, lab, int(rng.poisson(config.spurious_blobs)), config.blob_px, (ys, xs), rng)
        if rng.uniform() < config.split:
            part = split_line(region == lab, rng)
            region[part] = lab + SPLIT_OFFSET if lab % LABEL_DIVISOR < SPLIT_OFFSET else lab
    if len(boxes) >= 2 and rng.uniform() < config.merge:
        _merge_touching(out, list(boxes), rng)
    return out


def _add_blobs(
    out: np.ndarray,
    label: int,
    count: int,
    radius: tuple[float, float],
    box: tuple[slice, slice],
    rng: np.random.Generator,
) -> None:
    """Small blobs of ``label`` on background pixels near the instance's box."""
    ys, xs = box
    h, w = out.shape
    cy, cx = 0.5 * (ys.start + ys.stop), 0.5 * (xs.start + xs.stop)
    sy, sx = ys.stop - ys.start, xs.stop - xs.start
    for _ in range(count):
        centre = (
            float(np.clip(cx + rng.uniform(-1.5, 1.5) * sx, 0, w - 1)),
            float(np.clip(cy + rng.uniform(-1.5, 1.5) * sy, 0, h - 1)),
        )
        window, blob = _ellipse(out.shape, centre, rng.uniform(*radius), rng)
        region = out[window]
        region[blob & (region == 0)] = label


def _merge_touching(out: np.ndarray, labels: list[int], rng: np.random.Generator) -> None:
    """Relabel one of two touching instances (within 3 px) as the other, chosen at random."""
    pairs = []
    kernel = np.ones((7, 7), np.uint8)
    for i, a in enumerate(labels):
        grown = cv2.dilate((out == a).view(np.uint8), kernel).view(bool)
        pairs += [(a, b) for b in labels[i + 1 :] if np.any(grown & (out == b))]
    if pairs:
        a, b = pairs[rng.integers(len(pairs))]
        keep, drop = (a, b) if rng.uniform() < 0.5 else (b, a)
        out[out == drop] = keep
