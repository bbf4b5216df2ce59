"""An upright object placed on its support plane from its mask alone: the fallback when its depth is missing.

Clear glass, and black or shiny plastic, return no depth on a structured-light or ToF camera (or the table's
depth behind them). The mask still shows the object, and the support plane, fitted to the rest of the frame,
still fixes the scale: an object that stands on the plane touches it with its base, so its distance is no
longer unknown, as it is for PnP from one view. A template (the category's mesh, box-centred, canonical +Y up)
is stood on the plane with its +Y along the plane's normal and scaled by one horizontal and one vertical
factor; its foot point on the plane and the two factors are searched (Nelder-Mead) for the largest IoU between
the convex hull of its projected vertices and the mask (with PROPORTION_PULL towards the template's
proportions). Canonical +X points away from the camera (a mug's handle that no view showed lies behind the
body). Pure numpy, OpenCV and scipy; metres, camera frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import minimize
from scipy.spatial import ConvexHull

#: Subpixel bits of the rasterised hull (cv2.fillConvexPoly's ``shift``).
_SHIFT = 4
#: A weak pull of the horizontal and vertical factors towards the template's own proportions (cost per squared
#: log ratio): it decides only what the silhouette leaves open, such as the width of an object cut at its side.
PROPORTION_PULL = 0.02
#: The search canvas: the mask's bounding box grown by this fraction of its size on every side.
_CANVAS_GROW = 1.0


@dataclass(frozen=True)
class StandingFit:
    """A template stood on the plane: its pose (R canonical -> camera, t the box centre), per-axis size
    (metres), and the IoU of its silhouette with the mask."""

    rotation: np.ndarray
    translation: np.ndarray
    size: np.ndarray
    iou: float


def hull_vertices(vertices: np.ndarray) -> np.ndarray:
    """The box-centred vertices (K, 3) of the convex hull of ``vertices`` (M, 3): all a silhouette needs."""
    v = np.asarray(vertices, np.float64)
    v = v - 0.5 * (v.min(0) + v.max(0))
    try:
        return v[ConvexHull(v).vertices]
    except Exception:  # flat or degenerate template: every vertex
        return v


def pixel_rays(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame rays (N, 3), z = 1, through ``pixels`` (N, 2)."""
    return np.c_[np.asarray(pixels, np.float64), np.ones(len(pixels))] @ np.linalg.inv(K).T


def plane_hits(pixels: np.ndarray, K: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """Where the rays of ``pixels`` (N, 2) meet the plane ``normal . x + offset = 0`` (N, 3); NaN rows for rays
    that run parallel to it or meet it behind the camera."""
    return _ray_hits(pixel_rays(pixels, K), normal, offset)


def _ray_hits(rays: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    den = rays @ normal
    lam = np.where(den < -1e-9, -offset / np.where(den < -1e-9, den, -1.0), np.nan)
    return rays * lam[:, None]


class SilhouetteIoU:
    """IoU of a projected hull with the mask, on a canvas around the mask (pixels in ``ignore`` not counted)."""

    def __init__(self, mask: np.ndarray, ignore: np.ndarray | None) -> None:
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        gy, gx = _CANVAS_GROW * (np.ptp(ys) + 1), _CANVAS_GROW * (np.ptp(xs) + 1)
        self.y0, self.x0 = int(max(ys.min() - gy, 0)), int(max(xs.min() - gx, 0))
        y1, x1 = int(min(ys.max() + gy + 1, h)), int(min(xs.max() + gx + 1, w))
        self.mask = np.ascontiguousarray(mask[self.y0:y1, self.x0:x1], np.uint8)
        self.count = int(self.mask.sum())
        self.free = np.ones_like(self.mask) if ignore is None else \
            np.ascontiguousarray(~np.asarray(ignore, bool)[self.y0:y1, self.x0:x1], np.uint8) | self.mask
        self.canvas = np.zeros_like(self.mask)

    def iou(self, uv: np.ndarray) -> float:
        """IoU of the convex hull of the pixels ``uv`` (N, 2) with the mask (0 for non-finite or absurd ones)."""
        if not np.isfinite(uv).all():
            return 0.0
        pts = np.round((uv - [self.x0, self.y0]) * (1 << _SHIFT)).astype(np.int32)
        if np.abs(pts).max() > 1 << 26:
            return 0.0
        hull = cv2.convexHull(pts)
        self.canvas[:] = 0
        cv2.fillConvexPoly(self.canvas, hull, 1, cv2.LINE_8, _SHIFT)
        filled = self.canvas & self.free
        inter = int(np.count_nonzero(filled & self.mask))
        union = self.count + int(np.count_nonzero(filled)) - inter
        return inter / union if union else 0.0


def fit_standing_silhouette(mask: np.ndarray, K: np.ndarray, normal: np.ndarray, offset: float,
                            vertices: np.ndarray, ignore: np.ndarray | None = None, max_evaluations: int = 300
                            ) -> StandingFit | str:
    """Stand the template ``vertices`` (M, 3) on the plane ``normal . x + offset = 0`` (its normal pointing up,
    towards the camera) where its silhouette best covers ``mask`` (H, W); the fit, or why there is none.

    ``ignore`` (H, W): pixels where the object may be hidden (image border, other instances), not held against
    the silhouette. Canonical +X points away from the camera, +Y along ``normal``.
    """
    mask = np.asarray(mask, bool)
    n = np.asarray(normal, np.float64)
    n = n / np.linalg.norm(n)
    K = np.asarray(K, np.float64)
    if not (np.isfinite(K).all() and abs(np.linalg.det(K)) > 1e-12 and np.isfinite(n).all()
            and np.isfinite(offset)):
        return "intrinsics or plane not finite"
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return f"mask has {len(xs)} pixels"
    rays = pixel_rays(np.c_[xs, ys], K)
    hits = _ray_hits(rays, n, float(offset))
    ok = np.isfinite(hits).all(1)
    if ok.sum() < 3:
        return "the mask's rays do not meet the support plane in front of the camera"
    hits = hits[ok]
    near = hits[np.argsort(np.linalg.norm(hits, axis=1))[: max(3, len(hits) // 30)]]
    front = np.median(near, axis=0)  # the base's nearest edge, on the plane
    away = front - n * (front @ n)
    if np.linalg.norm(away) < 1e-9:
        return "the camera looks straight down the plane's normal"
    away /= np.linalg.norm(away)
    side = np.cross(n, away)
    R = np.stack((away, n, np.cross(away, n)), axis=1)  # canonical x, y, z in the camera frame
    hull = hull_vertices(vertices)
    ext = hull.max(0) - hull.min(0)
    if not (ext > 0).all():
        return f"template extents {ext} are not all positive"
    width = (np.percentile(xs, 98) - np.percentile(xs, 2) + 1.0) * float(front[2]) / K[0, 0]
    foot = front + away * 0.5 * width
    # height: where the mask's rays pass over the foot's vertical line
    w0 = foot @ away / np.maximum(rays @ away, 1e-9)  # ray length to the vertical plane through the foot
    height = float(np.percentile((rays * w0[:, None]) @ n + offset, 98))
    if not (width > 0 and height > 0):
        return f"no size to start from (width {width:.3f} m, height {height:.3f} m)"
    sil = SilhouetteIoU(mask, ignore)

    def place(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g, v = np.exp(p[2]), np.exp(p[3])
        size = np.array([g * ext[0], v * ext[1], g * ext[2]])
        t = foot + p[0] * away + p[1] * side + n * (0.5 * size[1])
        return t, size

    def iou(p: np.ndarray) -> float:
        t, size = place(p)
        pts = (hull * (size / ext)) @ R.T + t
        if (pts[:, 2] <= 1e-3).any():
            return 0.0
        uv = pts @ K.T
        return sil.iou(uv[:, :2] / uv[:, 2:3])

    def cost(p: np.ndarray) -> float:
        return 1.0 - iou(p) + PROPORTION_PULL * (p[2] - p[3]) ** 2

    p0 = np.array([0.0, 0.0, np.log(width / ext[2]), np.log(height / ext[1])])
    simplex = np.vstack([p0, p0 + [0.3 * width, 0, 0, 0], p0 + [0, 0.3 * width, 0, 0], p0 + [0, 0, 0.25, 0],
                         p0 + [0, 0, 0, 0.25]])
    res = minimize(cost, p0, method="Nelder-Mead",
                   options={"initial_simplex": simplex, "maxfev": max_evaluations, "xatol": 1e-4, "fatol": 1e-4})
    t, size = place(res.x)
    return StandingFit(R, t, size, float(iou(res.x)))
