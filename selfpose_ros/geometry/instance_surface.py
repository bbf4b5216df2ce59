"""The object's own depth surface inside an instance mask that may bleed onto the background.

Real instance masks spill a few pixels over the object's silhouette, and real depth has flying pixels
(mixed depths) along it. Fitting to every masked depth point lets a free-scale fit follow the background.
:func:`object_surfaces` keeps, per mask, only the depth pixels of the object's own surface:

1. Discontinuities: a pixel whose depth differs from a 4-neighbour's by more than
   ``max(jump_m, jump_rel * z)`` is dropped (silhouette edges and the flying pixels along them). The map is
   computed once per frame and shared by all instances.
2. Support: with a support plane (``geometry.support_plane``), pixels less than ``plane_margin_m`` above it
   (or below it) are the table, not the object (a bleeding mask's ring around the object's base).
3. Pieces: the remaining masked pixels split into 4-connected, depth-continuous pieces.
4. Seeds: of the pieces holding at least ``core_share`` of the largest share of the mask's core (pixels
   at least ``core_fraction`` of the largest distance from the mask's edge: well inside the object even
   for a mask dilated by many pixels), the front-most one, and every other one that does not run round
   the mask's edge (more than ``max_edge_share`` of its edge band: the background ring of a mask
   dilated far beyond a small object) and lies no further behind the front one than the mask is wide at
   its depth (a mug's inside seen over its rim, a clear bowl's far wall beyond its holes). When the core
   has no depth, the largest piece.
5. Growth: pieces whose 3D points come within ``link_m`` of the object's points so far join it (a mug's
   handle), and so do pieces lying in front of it (mean depth nearer than the object's median: a bowl's
   outer wall in front of its inside; bleeding adds what lies behind an object's silhouette, never in
   front). Background pieces behind the object and 0.1 m or more away never join.

Frames and units: the camera optical frame, metres; depth (H, W) float metres with NaN/0 for no reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.geometry.pinhole import backproject_np


@dataclass(frozen=True)
class SurfaceOptions:
    """Thresholds of :func:`object_surfaces` (metres unless stated)."""

    core_fraction: float = 0.5  # core = pixels at >= this fraction of the mask's largest edge distance
    core_share: float = 0.25  # pieces with this share of the best piece's core pixels are seeds too ...
    max_edge_share: float = 0.5  # ... unless they hold more than this share of the mask's edge band (a ring)
    edge_band_px: int = 3  # width of the mask's edge band
    jump_m: float = 0.01  # a depth step between 4-neighbours above max(jump_m, jump_rel * z) is an edge
    jump_rel: float = 0.02
    link_m: float = 0.02  # a piece joins the object when one of its points is this close to the object
    plane_margin_m: float = 0.006  # points less than this above the support plane belong to the support
    max_link_points: int = 4000  # the object's points are subsampled to this many for the link search
    min_front_px: int = 20  # a piece in front of the object joins it when it has this many pixels (and 2 %)

    def __post_init__(self) -> None:
        if not 0.0 < self.core_fraction < 1.0:
            raise ValueError(f"core_fraction must be in (0, 1), got {self.core_fraction}")
        if not (self.jump_m > 0 and self.jump_rel >= 0 and self.link_m > 0 and self.plane_margin_m >= 0):
            raise ValueError(f"invalid surface options {self}")


@dataclass(frozen=True)
class InstanceSurface:
    """Which pixels of one mask are the object's own surface, and why the others were dropped (counts)."""

    keep: np.ndarray  # (H, W) bool
    num_depth: int  # mask pixels with a depth reading
    num_kept: int
    dropped_edge: int  # at a depth discontinuity (silhouette, flying pixels)
    dropped_support: int  # on or below the support plane
    dropped_far: int  # in pieces away from the object (background or neighbours seen through the bleed)
    seed: str  # "core", "largest" (the core has no depth) or "none" (no depth at all)

    def as_dict(self) -> dict:
        """Counts and seed as plain values (for estimate extras and logs)."""
        return {
            "num_depth": self.num_depth,
            "num_kept": self.num_kept,
            "dropped_edge": self.dropped_edge,
            "dropped_support": self.dropped_support,
            "dropped_far": self.dropped_far,
            "seed": self.seed,
        }


def valid_depth(depth: np.ndarray) -> np.ndarray:
    """Pixels (H, W) with a finite, positive depth reading."""
    return np.isfinite(depth) & (depth > 0)


def off_plane(depth: np.ndarray, K: np.ndarray, pixels: np.ndarray, plane, margin_m: float) -> np.ndarray:
    """``pixels`` (H, W) bool with a depth reading, without those less than ``margin_m`` above ``plane`` (or below
    it); ``plane`` None keeps them all."""
    out = np.asarray(pixels, bool) & valid_depth(depth)
    if plane is not None and out.any():
        v, u = np.nonzero(out)
        low = plane.signed_distance(backproject_np(depth, K, out)) < margin_m
        out[v[low], u[low]] = False
    return out


def depth_discontinuities(depth: np.ndarray, jump_m: float = 0.01, jump_rel: float = 0.02,
                          far_side_only: bool = False) -> np.ndarray:
    """Pixels (H, W) whose depth differs from a valid 4-neighbour's by more than ``max(jump_m, jump_rel z)``.

    ``far_side_only``: only the farther pixel of each such pair (a silhouette's foreground pixels stay; a flying
    pixel, farther than the foreground beside it, does not).
    """
    d = np.asarray(depth, np.float32)
    ok = valid_depth(d)
    z = np.where(ok, d, np.float32(0.0))
    edge = np.zeros(d.shape, bool)
    for axis in (0, 1):
        a = [slice(None)] * 2
        b = [slice(None)] * 2
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        za, zb = z[tuple(a)], z[tuple(b)]
        both = ok[tuple(a)] & ok[tuple(b)]
        jump = both & (np.abs(za - zb) > np.maximum(jump_m, jump_rel * np.minimum(za, zb)))
        edge[tuple(a)] |= jump & (za > zb) if far_side_only else jump
        edge[tuple(b)] |= jump & (zb > za) if far_side_only else jump
    return edge


def with_silhouette(depth: np.ndarray, K: np.ndarray, mask: np.ndarray, keep: np.ndarray, far_edges: np.ndarray,
                    plane=None, plane_margin_m: float = 0.006, link_m: float = 0.02,
                    max_link_points: int = 4000) -> np.ndarray:
    """``keep`` (H, W) grown by the mask's foreground silhouette pixels: the 4-connected pieces of masked depth
    pixels that are neither the farther side of a discontinuity (``far_edges``, from
    ``depth_discontinuities(..., far_side_only=True)``) nor on the support ``plane``, and that hold a kept pixel
    or come within ``link_m`` of the kept points (a handle whose ends the body hides).

    Thin parts (a mug's handle, a few pixels wide) are all silhouette, so :func:`object_surface` drops them.
    Pieces are depth-continuous (of two neighbours across a jump, the farther is left out), so a nearer
    neighbouring object that the mask bleeds onto stays a piece of its own unless it touches the object.
    """
    box = mask_box(np.asarray(mask, bool) | np.asarray(keep, bool))
    out = np.asarray(keep, bool).copy()
    if box is None:
        return out
    d = np.asarray(depth, np.float32)[box]
    cand = off_plane(d, crop_K(K, box), np.asarray(mask, bool)[box] & ~np.asarray(far_edges, bool)[box], plane,
                     plane_margin_m)
    cand |= out[box]
    n_lab, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=4)
    if n_lab <= 1:
        return out
    held = np.zeros(n_lab, bool)
    held[np.unique(labels[out[box]])] = True
    held[0] = False
    loose = (labels > 0) & ~held[labels]
    if loose.any() and out[box].any():
        Kc = crop_K(K, box)
        own = backproject_np(d, Kc, out[box])
        if len(own) > max_link_points:
            own = own[np.random.default_rng(0).choice(len(own), max_link_points, replace=False)]
        near, _ = cKDTree(own).query(backproject_np(d, Kc, loose), distance_upper_bound=link_m)
        held[np.unique(labels[loose][np.isfinite(near)])] = True
    out[box] = held[labels]
    return out


def mask_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """Row and column slices of the bounding box of a (H, W) bool mask, or None when it is empty."""
    m = np.ascontiguousarray(mask, dtype=bool)
    x, y, w, h = cv2.boundingRect(m.view(np.uint8))
    if w == 0 or h == 0:
        return None
    return slice(y, y + h), slice(x, x + w)


def _core_in_box(mask: np.ndarray, fraction: float) -> np.ndarray:
    sub = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)  # one pixel of background all round
    sub[1:-1, 1:-1] = mask
    dist = cv2.distanceTransform(sub, cv2.DIST_L2, 3)[1:-1, 1:-1]
    return dist >= fraction * float(dist.max())


def mask_core(mask: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Pixels (H, W) of ``mask`` at least ``fraction`` of its largest distance (pixels) from its edge."""
    mask = np.asarray(mask, bool)
    core = np.zeros(mask.shape, bool)
    box = mask_box(mask)
    if box is not None:
        core[box] = _core_in_box(mask[box], fraction)
    return core


def core_points(depth: np.ndarray, K: np.ndarray, mask: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Camera-frame points (N, 3) of the mask's core pixels with depth (see :func:`mask_core`)."""
    box = mask_box(mask)
    if box is None:
        return np.zeros((0, 3))
    return backproject_np(depth[box], crop_K(K, box), _core_in_box(np.asarray(mask, bool)[box], fraction))


def crop_K(K: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    """Intrinsics (3, 3) of the image window ``box`` (row and column slices)."""
    Kc = np.array(K, np.float64)
    Kc[0, 2] -= box[1].start
    Kc[1, 2] -= box[0].start
    return Kc


def _grow(
    points: np.ndarray, piece: np.ndarray, seeds: np.ndarray, link_m: float, max_points: int, min_front_px: int
) -> np.ndarray:
    """Pieces (sorted ids) of the object grown from the ``seeds`` pieces; see the module docstring, step 5.

    ``points`` (N, 3) and ``piece`` (N,) the piece id of every point. One KD-tree query per round.
    """
    n_pieces = int(piece.max()) + 1
    count = np.bincount(piece, minlength=n_pieces)
    mean_z = np.bincount(piece, weights=points[:, 2], minlength=n_pieces) / np.maximum(count, 1)
    member = np.zeros(n_pieces, bool)
    member[seeds] = True
    while True:
        inside = member[piece]
        rest = np.flatnonzero(~inside)
        if len(rest) == 0:
            break
        cluster = points[inside]
        cluster = cluster[:: max(1, len(cluster) // max_points)]
        d, _ = cKDTree(cluster).query(points[rest], distance_upper_bound=link_m)
        new = np.zeros(n_pieces, bool)
        new[piece[rest[np.isfinite(d)]]] = True
        # pieces in front of the object are the object's own nearer parts (a bowl's outer wall in front of
        # its inside): a bleeding mask adds what lies behind the object, never in front of it
        front = ~member & (count >= max(min_front_px, 0.02 * count[member].sum()))
        front &= mean_z < np.median(cluster[:, 2])
        new |= front
        if not new.any():
            break
        member |= new
    return np.flatnonzero(member)


def _core_seeds(
    labels: np.ndarray,
    n_lab: int,
    in_core: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    focal_px: float,
    options: SurfaceOptions,
) -> np.ndarray:
    """Seed pieces (0-based ids); see the module docstring, step 4."""
    cands = np.flatnonzero(in_core >= options.core_share * in_core.max())
    count = np.bincount(labels.ravel(), minlength=n_lab)[1:]
    mean_z = np.bincount(labels.ravel(), weights=np.nan_to_num(depth).ravel(), minlength=n_lab)[1:]
    mean_z = mean_z / np.maximum(count, 1)
    primary = int(cands[np.argmin(mean_z[cands])])
    if len(cands) == 1:
        return np.array([primary])
    ys, xs = np.nonzero(mask)
    width_m = max(np.ptp(xs), np.ptp(ys)) * mean_z[primary] / focal_px  # the mask's size across the view
    k = 2 * options.edge_band_px + 1
    band = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((k, k), np.uint8), borderValue=0).astype(bool)
    in_band = np.bincount(labels[band], minlength=n_lab)[1:]
    share = in_band / max(int(in_band.sum()), 1)
    ok = (share <= options.max_edge_share) & (mean_z - mean_z[primary] <= width_m)
    return np.array([c for c in cands if c == primary or ok[c]])


def object_surface(
    depth: np.ndarray,
    K: np.ndarray,
    mask: np.ndarray,
    *,
    edges: np.ndarray | None = None,
    plane=None,
    options: SurfaceOptions | None = None,
) -> InstanceSurface:
    """The object's own surface in one mask (H, W) bool; ``edges`` from :func:`depth_discontinuities`,
    ``plane`` a ``support_plane.Plane`` (or None). See the module docstring."""
    options = options or SurfaceOptions()
    depth = np.asarray(depth, np.float32)
    mask = np.asarray(mask, bool)
    if mask.shape != depth.shape:
        raise ValueError(f"mask {mask.shape} and depth {depth.shape} differ in shape")
    if edges is None:
        edges = depth_discontinuities(depth, options.jump_m, options.jump_rel)
    keep = np.zeros(depth.shape, bool)
    box = mask_box(mask)
    if box is None:
        return InstanceSurface(keep, 0, 0, 0, 0, 0, "none")
    d, m, e = depth[box], mask[box], edges[box]
    has = m & valid_depth(d)
    smooth = off_plane(d, crop_K(K, box), has & ~e, plane, options.plane_margin_m)
    dropped_support = int((has & ~e).sum() - smooth.sum())
    num_depth, dropped_edge = int(has.sum()), int((has & e).sum())
    n_lab, labels = cv2.connectedComponents(smooth.astype(np.uint8), connectivity=4)
    if n_lab <= 1:
        return InstanceSurface(keep, num_depth, 0, dropped_edge, dropped_support, 0, "none")
    core = _core_in_box(m, options.core_fraction)
    in_core = np.bincount(labels[core], minlength=n_lab)[1:]
    sizes = np.bincount(labels.ravel(), minlength=n_lab)[1:]
    seed_kind = "core" if in_core.max() > 0 else "largest"
    if seed_kind == "core":
        seeds = _core_seeds(labels, n_lab, in_core, d, m, float(K[0][0]), options)
    else:
        seeds = np.array([int(np.argmax(sizes))])
    Kc = crop_K(K, box)
    v, u = np.nonzero(labels > 0)
    members = _grow(
        backproject_np(d, Kc, labels > 0),
        labels[v, u] - 1,
        seeds,
        options.link_m,
        options.max_link_points,
        options.min_front_px,
    )
    lut = np.zeros(n_lab, bool)
    lut[members + 1] = True
    sub_keep = lut[labels]
    keep[box] = sub_keep
    kept = int(sub_keep.sum())
    return InstanceSurface(keep, num_depth, kept, dropped_edge, dropped_support, int(smooth.sum()) - kept, seed_kind)


def object_surfaces(
    depth: np.ndarray, K: np.ndarray, masks: np.ndarray, *, plane=None, options: SurfaceOptions | None = None,
    edges: np.ndarray | None = None,
) -> list[InstanceSurface]:
    """:func:`object_surface` for every mask of a stack (N, H, W), sharing one discontinuity map (``edges``, made
    here from ``options`` when not given)."""
    options = options or SurfaceOptions()
    masks = np.asarray(masks, bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got {masks.shape}")
    if edges is None:
        edges = depth_discontinuities(depth, options.jump_m, options.jump_rel)
    return [object_surface(depth, K, m, edges=edges, plane=plane, options=options) for m in masks]


def surface_points(
    depth: np.ndarray, K: np.ndarray, surface: InstanceSurface, max_points: int | None = None, seed: int = 0
) -> np.ndarray:
    """Camera-frame points (N, 3) of a surface's kept pixels, uniformly subsampled to ``max_points``."""
    points = backproject_np(depth, K, surface.keep)
    if max_points is not None and len(points) > max_points:
        points = points[np.random.default_rng(seed).choice(len(points), max_points, replace=False)]
    return points
