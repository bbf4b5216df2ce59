"""The object's own points of a trajectory, robust to real segmenters and sensors (realism default/heavy).

A bleeding mask adds background, table and neighbour pixels; flying pixels sit between object and
background; spurious blobs add far-away pixels; all of them wreck a free-scale prior fit (measured: scales
off by 8x and more on realism-default bags without this). Per crop, :func:`core_points` keeps the points
within ``max_radius`` of the median of the eroded mask's core (the category's largest diagonal bounds any
object point's distance to its visible centre). In the world frame, :func:`consistent_points` keeps points
whose voxel several frames hit (the object is static; bled background differs from view to view), and
:func:`drop_support` removes a thin layer at the bottom along the up axis (the table ring a bleeding mask
adds around the base).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from selfpose_ros.geometry.pinhole import backproject_np


def core_points(depth: np.ndarray, mask: np.ndarray, K: np.ndarray, max_radius: float, erode_px: int = 3,
                up: np.ndarray | None = None, link: float = 0.012) -> np.ndarray:
    """Camera-frame points (N,3) of the object a crop's mask is mostly on.

    Points farther than ``max_radius`` metres from the eroded core's median go; with ``up`` (the camera-frame
    up direction) so does a 5 mm layer at the bottom (the support a bleeding mask reaches onto); of what is
    left, the 3D connected components (points closer than ``link``) that hold most of the core are kept, so
    neighbours, clutter and background the mask bled onto fall away.
    """
    m = np.asarray(mask, bool) & np.isfinite(depth) & (depth > 0)
    if not m.any():
        return np.zeros((0, 3))
    d = np.nan_to_num(depth, nan=0.0)
    core = m
    for k in range(erode_px, 0, -1):  # the strongest erosion that leaves a usable core
        kernel = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
        eroded = cv2.erode(m.astype(np.uint8), kernel).astype(bool)
        if eroded.sum() >= max(20, 0.15 * m.sum()):
            core = eroded
            break
    pts = backproject_np(d, K, m)
    in_core = core[m]  # backproject_np is row-major over the mask, as this indexing
    centre = np.median(pts[in_core], axis=0)
    keep = np.linalg.norm(pts - centre, axis=1) <= max_radius
    if up is not None:
        h = pts @ (np.asarray(up, np.float64) / np.linalg.norm(up))
        keep &= h > np.percentile(h[keep], 2.0) + 0.005 if keep.any() else keep
    pts, in_core = pts[keep], in_core[keep]
    if len(pts) < 3 or not in_core.any():
        return pts
    pairs = cKDTree(pts).query_pairs(link, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(pts), len(pts)))
    _, label = connected_components(graph, directed=False)
    votes = np.bincount(label[in_core], minlength=label.max() + 1)
    good = np.flatnonzero(votes >= 0.2 * votes.max())
    return pts[np.isin(label, good)]


def consistent_points(parts: list[np.ndarray], voxel: float = 0.015, min_frames: int = 2) -> np.ndarray:
    """Concatenated world points of ``parts`` (one array per frame) whose voxel at least ``min_frames`` frames hit.

    With fewer frames than ``min_frames`` everything is kept.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.zeros((0, 3))
    allp = np.concatenate(parts)
    if len(parts) < min_frames:
        return allp
    keys = [np.unique(np.floor(p / voxel).astype(np.int64), axis=0) for p in parts]
    flat, counts = np.unique(np.concatenate(keys), axis=0, return_counts=True)
    good = {tuple(k) for k in flat[counts >= min_frames]}
    cells = np.floor(allp / voxel).astype(np.int64)
    keep = np.fromiter((tuple(c) in good for c in cells), bool, len(cells))
    return allp[keep]


def drop_support(points: np.ndarray, up: np.ndarray, margin: float = 0.004, percentile: float = 1.0
                 ) -> np.ndarray:
    """Points more than ``margin`` above the lowest level (the ``percentile`` of heights along ``up``)."""
    if len(points) == 0:
        return points
    h = points @ (np.asarray(up, np.float64) / np.linalg.norm(up))
    return points[h > np.percentile(h, percentile) + margin]
