"""The supporting plane of a frame (table, floor) and the up direction it gives when TF knows no gravity.

Frames and units: the camera optical frame (x right, y down, z forward), metres. A plane is
``n . x + d = 0`` with unit normal ``n`` oriented towards the camera (the camera origin lies on its positive
side, so ``d > 0`` is the camera's distance to the plane); the normal of a table seen from above is "up".

Algorithm of :func:`support_plane`:
1. Back-project the depth on a pixel grid (every ``stride``-th pixel), leaving out every instance mask
   dilated by ``mask_margin_px`` (objects and their bleeding edges are not the support).
2. Find up to ``max_planes`` planes one after the other with a vectorised RANSAC (all hypotheses of a chunk
   scored in one matrix product; inlier distance ``threshold_m + threshold_rel * z``, growing with depth
   like the sensor noise), each refined by least squares (SVD) on its inliers, its inliers then removed.
3. Keep the planes that can be a support: normal within ``max_angle_from_image_up_deg`` of image up
   (-y: a wall seen by a camera pitched down faces image down, a ceiling too), and within
   ``max_angle_from_up_hint_deg`` of ``up_hint`` when gravity is known.
4. Of those, pick the one supporting most instances (their core points lie on its camera side and their
   lowest point near it: objects stand on their support), then the one with most inliers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from selfpose_ros.geometry.instance_surface import core_points
from selfpose_ros.geometry.pinhole import backproject_np

#: Image up in the optical frame (y points down in the image).
IMAGE_UP = np.array([0.0, -1.0, 0.0])


@dataclass(frozen=True)
class Plane:
    """``n . x + d = 0`` in the camera frame: unit normal (3,) towards the camera, offset d (metres, >= 0)."""

    normal: np.ndarray
    offset: float

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distances (...,) of points (..., 3) to the plane, positive on the camera's side (metres)."""
        return np.asarray(points, np.float64) @ self.normal + self.offset


@dataclass(frozen=True)
class PlaneOptions:
    """How :func:`support_plane` samples the depth, runs RANSAC and chooses the support."""

    stride: int = 4  # back-project every stride-th pixel in x and y
    max_points: int = 6000  # at most this many points go into RANSAC (evenly subsampled)
    threshold_m: float = 0.006  # inlier distance at depth 0 (metres) ...
    threshold_rel: float = 0.008  # ... plus this fraction of the point's depth (sensor noise grows with z)
    iterations: int = 240  # at most this many RANSAC hypotheses per plane ...
    confidence: float = 0.999  # ... fewer once an all-inlier sample was drawn with this probability
    max_planes: int = 3  # planes extracted one after the other
    min_inliers: int = 200  # a plane needs this many inliers (of the subsampled points)
    min_inlier_fraction: float = 0.05  # ... and this fraction of them
    mask_margin_px: int = 6  # instance masks are dilated by this much before they are excluded
    max_angle_from_image_up_deg: float = 100.0  # a support's normal lies within this of image up (-y)
    max_angle_from_up_hint_deg: float = 15.0  # with gravity known, a support's normal lies within this of it
    touch_m: float = 0.05  # an instance stands on a plane when its lowest core point is this close to it
    seed: int = 0

    def __post_init__(self) -> None:
        if self.stride < 1 or self.max_points < 3 or self.iterations < 1 or self.max_planes < 1:
            raise ValueError(f"invalid plane options {self}")
        if not (self.threshold_m > 0 and self.threshold_rel >= 0):
            raise ValueError("threshold_m must be positive and threshold_rel non-negative")


@dataclass(frozen=True)
class SupportPlaneInfo:
    """What the support-plane search found (for diagnostics and summaries); ``reason`` set when no plane."""

    found: bool
    reason: str | None = None
    num_points: int = 0  # back-projected points outside the masks (after subsampling)
    num_planes: int = 0  # planes extracted
    num_inliers: int = 0  # of the chosen plane
    inlier_fraction: float = 0.0
    rmse_m: float = 0.0
    angle_from_image_up_deg: float = float("nan")
    supported_instances: int = 0
    plane: Plane | None = None

    def as_dict(self) -> dict:
        """Plain key/value form (the plane as normal and offset), e.g. for /diagnostics."""
        d = {k: v for k, v in asdict(self).items() if k != "plane"}
        if self.plane is not None:
            d["normal"] = [float(v) for v in self.plane.normal]
            d["offset_m"] = float(self.plane.offset)
        return d


def fit_plane_lsq(points: np.ndarray) -> Plane:
    """Least-squares plane (SVD) of points (N >= 3, 3), normal oriented towards the camera origin."""
    p = np.asarray(points, np.float64)
    c = p.mean(0)
    _, _, vt = np.linalg.svd(p - c, full_matrices=False)
    n = vt[-1]
    d = -float(n @ c)
    if d < 0:
        n, d = -n, -d
    return Plane(n / np.linalg.norm(n), d)


def _inlier_threshold(points: np.ndarray, options: PlaneOptions) -> np.ndarray:
    return options.threshold_m + options.threshold_rel * points[:, 2]


def ransac_plane(
    points: np.ndarray, options: PlaneOptions, rng: np.random.Generator, chunk: int = 40
) -> tuple[Plane | None, np.ndarray]:
    """Best plane of points (N, 3) by vectorised RANSAC + SVD refinement; return (plane | None, inliers (N,))."""
    p = np.asarray(points, np.float64)
    n_pts = len(p)
    if n_pts < 3:
        return None, np.zeros(n_pts, bool)
    thr = _inlier_threshold(p, options).astype(np.float32)
    centre = p.mean(0)
    q = (p - centre).astype(np.float32)  # centred (float32 is then accurate); offsets relative to ``centre``
    best_count, best = -1, None
    done, needed = 0, float(options.iterations)
    while done < min(options.iterations, needed):
        b = min(chunk, options.iterations - done)  # chunks: the adaptive count is checked between them
        done += b
        idx = rng.integers(0, n_pts, size=(b, 3))
        a, u, v = q[idx[:, 0]], q[idx[:, 1]], q[idx[:, 2]]
        normals = np.cross(u - a, v - a)
        norms = np.linalg.norm(normals, axis=1)
        ok = norms > 1e-9
        if not ok.any():
            continue
        normals, a = normals[ok] / norms[ok, None], a[ok]
        offsets = -np.sum(normals * a, axis=1)
        counts = (np.abs(q @ normals.T + offsets) < thr[:, None]).sum(0)
        k = int(np.argmax(counts))
        if counts[k] > best_count:
            best_count, best = int(counts[k]), (normals[k], offsets[k])
            w3 = (best_count / n_pts) ** 3
            needed = np.log1p(-options.confidence) / np.log1p(-w3) if w3 < 1 else 0.0
    if best is None:
        return None, np.zeros(n_pts, bool)
    inliers = np.abs(q @ best[0] + best[1]) < thr
    for _ in range(2):  # least-squares refinement on the inliers, then re-select them
        if inliers.sum() < 3:
            break
        plane = fit_plane_lsq(p[inliers])
        inliers = np.abs(plane.signed_distance(p)) < thr
    if inliers.sum() < 3:
        return None, inliers
    return fit_plane_lsq(p[inliers]), inliers


def detect_planes(points: np.ndarray, options: PlaneOptions | None = None) -> list[tuple[Plane, np.ndarray]]:
    """Up to ``max_planes`` planes of points (N, 3), largest first; each with its inlier mask (N,)."""
    options = options or PlaneOptions()
    p = np.asarray(points, np.float64)
    rng = np.random.default_rng(options.seed)
    free = np.ones(len(p), bool)
    need = max(options.min_inliers, int(np.ceil(options.min_inlier_fraction * len(p))), 3)
    out = []
    for _ in range(options.max_planes):
        idx = np.flatnonzero(free)
        if len(idx) < need:
            break
        plane, inl = ransac_plane(p[idx], options, rng)
        if plane is None or inl.sum() < need:
            break
        mask = np.zeros(len(p), bool)
        mask[idx[inl]] = True
        out.append((plane, mask))
        free &= ~mask
    return out


def _as_mask_stack(masks: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if masks is None:
        return np.zeros((0, *shape), bool)
    m = np.asarray(masks).astype(bool)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[1:] != shape:
        raise ValueError(f"masks must be (H, W) or (N, H, W) with (H, W) = {shape}, got {np.shape(masks)}")
    return m


def _supports(plane: Plane, cores: list[np.ndarray], touch_m: float) -> int:
    n = 0
    for pts in cores:
        if len(pts) < 10:
            continue
        sd = plane.signed_distance(pts)
        low, above = np.percentile(sd, [2.0, 10.0])
        n += int(above > -0.01 and low < touch_m + 0.25 * float(np.ptp(sd)))
    return n


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def support_plane(
    depth: np.ndarray,
    K: np.ndarray,
    masks: np.ndarray | None = None,
    *,
    up_hint: np.ndarray | None = None,
    options: PlaneOptions | None = None,
) -> SupportPlaneInfo:
    """Find the plane the objects stand on from depth (H, W) metres (NaN/0 = none) outside the masks.

    ``K`` (3, 3) intrinsics; ``masks`` (H, W) or (N, H, W) bool instance masks (excluded, and used to
    prefer the plane the instances stand on); ``up_hint`` (3,) gravity up in the camera frame when known.
    Returns a :class:`SupportPlaneInfo` whose ``plane`` is None (with a ``reason``) when none qualifies.
    """
    options = options or PlaneOptions()
    depth = np.asarray(depth, np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got {depth.shape}")
    stack = _as_mask_stack(masks, depth.shape)
    st = options.stride
    exclude = stack[:, ::st, ::st].any(0) if len(stack) else np.zeros(depth[::st, ::st].shape, bool)
    margin = -(-options.mask_margin_px // st)  # in grid cells, rounded up
    if margin > 0 and exclude.any():
        kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
        exclude = cv2.dilate(exclude.astype(np.uint8), kernel).astype(bool)
    K_grid = np.array(K, np.float64)
    K_grid[:2] /= st  # pixel (st u, st v) of the image is (u, v) of the grid
    pts = backproject_np(depth[::st, ::st], K_grid, ~exclude)
    if len(pts) > options.max_points:
        pts = pts[np.linspace(0, len(pts) - 1, options.max_points).astype(int)]
    if len(pts) < max(options.min_inliers, 3):
        return SupportPlaneInfo(False, f"only {len(pts)} depth points outside the instance masks", len(pts))
    planes = detect_planes(pts, options)
    if not planes:
        return SupportPlaneInfo(
            False, f"no plane with >= {options.min_inliers} inliers among {len(pts)} points", len(pts)
        )
    hint = None if up_hint is None else np.asarray(up_hint, np.float64)
    candidates, rejected = [], []
    for plane, inl in planes:
        angle = _angle_deg(plane.normal, IMAGE_UP)
        if angle > options.max_angle_from_image_up_deg:
            rejected.append(f"normal {angle:.0f} deg from image up")
        elif hint is not None and _angle_deg(plane.normal, hint) > options.max_angle_from_up_hint_deg:
            rejected.append(f"normal {_angle_deg(plane.normal, hint):.0f} deg from the gravity hint")
        else:
            candidates.append((plane, inl, angle))
    if not candidates:
        return SupportPlaneInfo(False, "no plane can be a support: " + "; ".join(rejected), len(pts), len(planes))
    cores = [core_points(depth, K, m) for m in stack]
    keys = [(_supports(plane, cores, options.touch_m), int(inl.sum())) for plane, inl, _ in candidates]
    pick = max(range(len(candidates)), key=lambda i: keys[i])
    best, best_key = candidates[pick], keys[pick]
    plane, inl, angle = best
    rmse = float(np.sqrt(np.mean(plane.signed_distance(pts[inl]) ** 2)))
    return SupportPlaneInfo(
        True, None, len(pts), len(planes), int(inl.sum()), float(inl.mean()), rmse, angle, best_key[0], plane
    )


def support_plane_up(
    depth: np.ndarray,
    K: np.ndarray,
    masks: np.ndarray | None = None,
    *,
    up_hint: np.ndarray | None = None,
    options: PlaneOptions | None = None,
) -> tuple[np.ndarray | None, SupportPlaneInfo]:
    """Up direction (3,) in the camera frame from the support plane's normal (towards the camera), or None.

    Same inputs as :func:`support_plane`; returns ``(up | None, info)``, ``info.reason`` saying why not.
    """
    info = support_plane(depth, K, masks, up_hint=up_hint, options=options)
    return (None if info.plane is None else info.plane.normal.copy()), info
