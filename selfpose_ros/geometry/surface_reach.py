"""Object surfaces that reach beyond masks falling short of the silhouette (an eroding segmenter).

A real segmenter's mask spills over the object's silhouette (bleeds) or falls short of it (erodes). Bleeding is
what ``geometry.instance_surface`` handles: it keeps only the object's own depth pixels inside the mask. An eroded
mask loses the object's outer pixels, and with them width, height and a mug's handle. Here the surface chosen
inside the mask grows up to ``reach_px`` pixels beyond it (onto no other instance's pixels), through 4-connected,
depth-continuous pixels ``plane_margin_m`` or more above the support plane, to points no farther from the kept
ones than the reach spans at their depth plus ``link_m``. What the mask holds is decided as without the reach.

Frames and units: the camera optical frame, metres; depth (H, W) float metres with NaN/0 for no reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.geometry.instance_surface import (
    InstanceSurface,
    SurfaceOptions,
    crop_K,
    depth_discontinuities,
    mask_box,
    off_plane,
)
from selfpose_ros.geometry.pinhole import backproject_np

#: The kept points are subsampled to this many for the distance test.
MAX_LINK_POINTS = 4000


@dataclass(frozen=True)
class ReachOptions:
    """How far surfaces reach beyond their masks (:func:`reach_surfaces`)."""

    reach_px: int = 0  # pixels beyond the mask (0: the masks bound the surfaces)
    link_m: float = 0.01  # a reached point lies within the reach's width at its depth plus this of the kept points
    #: ... and at least this high above the support plane: beyond the mask lies mostly table, which a noisy depth
    #: camera reads a centimetre or two off the fitted plane (the object's own lowest 2 cm stay out)
    plane_margin_m: float = 0.02

    def __post_init__(self) -> None:
        if self.reach_px < 0 or not self.link_m > 0 or self.plane_margin_m < 0:
            raise ValueError(f"invalid reach options {self}: reach_px >= 0, link_m > 0, plane_margin_m >= 0")


def reach_masks(masks: np.ndarray, reach_px: int) -> np.ndarray:
    """Every mask of a stack (N, H, W) grown by ``reach_px`` pixels (a disc), onto no other instance's pixels.

    A real segmenter's mask may also fall short of the object's silhouette (an eroded mask), and then the object
    loses its outer pixels; :func:`reach_surface` takes them back from the grown mask.
    """
    masks = np.asarray(masks, bool)
    if reach_px <= 0 or len(masks) == 0:
        return masks
    r = int(reach_px)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    free = ~masks.any(0)
    out = masks.copy()
    h, w = masks.shape[1:]
    for i, m in enumerate(masks):
        box = mask_box(m)
        if box is None:
            continue
        rows = slice(max(box[0].start - r, 0), min(box[0].stop + r, h))
        cols = slice(max(box[1].start - r, 0), min(box[1].stop + r, w))
        grown = cv2.dilate(m[rows, cols].view(np.uint8), disc, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out[i, rows, cols] |= grown.astype(bool) & free[rows, cols]
    return out


def reach_surface(
    depth: np.ndarray,
    K: np.ndarray,
    surface: InstanceSurface,
    mask: np.ndarray,
    reached: np.ndarray,
    *,
    edges: np.ndarray,
    plane=None,
    options: ReachOptions | None = None,
) -> InstanceSurface:
    """``surface`` (selected in ``mask``) grown into ``reached`` (``mask`` grown by :func:`reach_masks`): the pixels
    beyond the mask that are depth-continuous with the kept surface (4-connected, no discontinuity in ``edges``,
    ``options.plane_margin_m`` or more above the support ``plane``) and lie within the reach's width at their
    depth, plus ``options.link_m``, of the kept points. What the mask holds is decided as without the reach.

    The plane margin is wider than the mask's: beyond the mask lies mostly table, and a noisy depth camera reads it
    up to a centimetre or two off the fitted plane (the object's own lowest 2 cm stay out)."""
    options = options or ReachOptions()
    beyond = np.asarray(reached, bool) & ~np.asarray(mask, bool)
    box = mask_box(np.asarray(reached, bool))
    if box is None or not surface.keep.any() or not beyond.any():
        return surface
    d, kept = np.asarray(depth, np.float32)[box], surface.keep[box]
    Kc = crop_K(K, box)
    cand = off_plane(d, Kc, beyond[box], plane, options.plane_margin_m) & ~np.asarray(edges, bool)[box]
    n_lab, labels = cv2.connectedComponents((cand | kept).astype(np.uint8), connectivity=4)
    held = np.zeros(n_lab, bool)
    held[np.unique(labels[kept])] = True
    held[0] = False
    new = cand & held[labels]
    if not new.any():
        return surface
    own = backproject_np(d, Kc, kept)
    own = own[:: max(1, len(own) // MAX_LINK_POINTS)]
    pts = backproject_np(d, Kc, new)
    reach_m = (options.reach_px + 1) * pts[:, 2] / float(K[0][0]) + options.link_m
    dist, _ = cKDTree(own).query(pts, distance_upper_bound=float(reach_m.max()))
    v, u = np.nonzero(new)
    near = dist <= reach_m
    keep = surface.keep.copy()
    keep[box][v[near], u[near]] = True
    n_new = int(near.sum())
    return replace(surface, keep=keep, num_kept=surface.num_kept + n_new)


def reach_surfaces(
    depth: np.ndarray,
    K: np.ndarray,
    masks: np.ndarray,
    surfaces: Sequence[InstanceSurface],
    *,
    plane=None,
    options: ReachOptions | None = None,
    surface_options: SurfaceOptions | None = None,
    edges: np.ndarray | None = None,
) -> list[InstanceSurface]:
    """:func:`reach_surface` for every mask of a stack (N, H, W) and its surface (``instance_surface.object_surfaces``
    with ``surface_options``); ``edges``: the discontinuity map the surfaces were selected with (made here from
    ``surface_options`` when not given)."""
    options = options or ReachOptions()
    if options.reach_px <= 0 or len(surfaces) == 0:
        return list(surfaces)
    masks = np.asarray(masks, bool)
    if edges is None:
        so = surface_options or SurfaceOptions()
        edges = depth_discontinuities(depth, so.jump_m, so.jump_rel)
    reached = reach_masks(masks, options.reach_px)
    return [reach_surface(depth, K, s, m, r, edges=edges, plane=plane, options=options)
            for s, m, r in zip(surfaces, masks, reached)]
