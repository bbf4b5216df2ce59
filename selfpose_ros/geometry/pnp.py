"""PnP-RANSAC for the RGB-only path: pose from 2D-3D correspondences with OpenCV.

PnP recovers rotation and translation but not scale: the caller supplies the scale (metres per canonical
unit), normally from the category prior's typical metric size. The canonical 3D points are scaled by it
before solving, so the translation is metric and consistent with that scale.
``confidence`` in the result is the RANSAC sampling confidence for the final inlier ratio and the iteration
budget (OpenCV does not report how many iterations it ran, so this is an upper bound).
"""

from __future__ import annotations

import cv2
import numpy as np

from selfpose_ros.geometry.pose_fit import PoseFit, failed_fit
from selfpose_ros.geometry.ransac import sample_confidence


def _reprojection_errors(obj: np.ndarray, img: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray,
                         dist: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Return per-point reprojection errors (pixels) and camera-frame depths."""
    cam = obj @ R.T + t
    rvec, _ = cv2.Rodrigues(R)
    proj, _ = cv2.projectPoints(obj, rvec, t.reshape(3, 1), K, dist)
    return np.linalg.norm(proj.reshape(-1, 2) - img, axis=1), cam[:, 2]


def pnp_ransac(
    object_points: np.ndarray,
    image_points: np.ndarray,
    camera_matrix: np.ndarray,
    scale: float,
    *,
    dist_coeffs: np.ndarray | None = None,
    reprojection_error_px: float = 4.0,
    confidence: float = 0.999,
    max_iterations: int = 300,
    refine: bool = True,
    min_inliers: int = 6,
    flags: int = cv2.SOLVEPNP_EPNP,
    seed: int | None = None,
) -> PoseFit:
    """Fit the pose of canonical points (N, 3) seen at pixels (N, 2) with intrinsics K; scale is given."""
    obj = np.asarray(object_points, dtype=np.float64)
    img = np.asarray(image_points, dtype=np.float64)
    K = np.asarray(camera_matrix, dtype=np.float64)
    if obj.ndim != 2 or obj.shape[1] != 3:
        raise ValueError(f"object_points must be (N, 3), got {obj.shape}")
    if img.shape != (obj.shape[0], 2):
        raise ValueError(f"image_points must be (N, 2) with N = {obj.shape[0]}, got {img.shape}")
    if K.shape != (3, 3):
        raise ValueError(f"camera_matrix must be 3x3, got {K.shape}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive and finite (metres per canonical unit), got {scale}")
    if reprojection_error_px <= 0:
        raise ValueError(f"reprojection_error_px must be positive, got {reprojection_error_px}")
    dist = None if dist_coeffs is None else np.asarray(dist_coeffs, dtype=np.float64)

    n_input = obj.shape[0]
    usable = np.isfinite(obj).all(1) & np.isfinite(img).all(1)
    idx = np.flatnonzero(usable)
    n = idx.size
    need = max(min_inliers, 5 if flags == cv2.SOLVEPNP_EPNP else 4)
    if n < need:
        return failed_fit(f"too few usable correspondences: {n} finite of {n_input}, need {need}", n_input, n)
    obj_m = np.ascontiguousarray(scale * obj[idx])
    img_u = np.ascontiguousarray(img[idx])
    if seed is not None:
        cv2.setRNGSeed(int(seed))
    ok, rvec, tvec, inliers = cv2.solvePnPRansac(
        obj_m, img_u, K, dist, iterationsCount=max_iterations, reprojectionError=float(reprojection_error_px),
        confidence=confidence, flags=flags)
    if not ok or inliers is None or len(inliers) < need:
        count = 0 if inliers is None else len(inliers)
        return failed_fit(f"solvePnPRansac found no pose with >= {need} inliers (got {count})", n_input, n,
                          max_iterations)
    inl = inliers.reshape(-1)
    if refine:
        rvec, tvec = cv2.solvePnPRefineLM(obj_m[inl], img_u[inl], K, dist, rvec, tvec)
    R, _ = cv2.Rodrigues(rvec)
    t = tvec.reshape(3)
    err, depth = _reprojection_errors(obj_m, img_u, R, t, K, dist)
    mask = (err < reprojection_error_px) & (depth > 0)
    count = int(mask.sum())
    full = np.zeros(n_input, dtype=bool)
    full[idx] = mask
    if count < need:
        return failed_fit(f"too few inliers in front of the camera after refinement: {count}, need {need}",
                          n_input, n, max_iterations, full, count / n)
    ratio = count / n
    sample = 5 if flags == cv2.SOLVEPNP_EPNP else 4
    return PoseFit(success=True, scale=float(scale), rotation=R, translation=t, inlier_mask=full,
                   inlier_ratio=ratio, confidence=sample_confidence(ratio, sample, max_iterations),
                   num_correspondences=n, iterations=max_iterations,
                   extras={"reprojection_rmse_px": float(np.sqrt(np.mean(err[mask] ** 2)))})


def pnp_distance_check(z: float, scale: float, mask: np.ndarray, fx: float, max_factor: float = 2.0) -> str | None:
    """Why a PnP distance ``z`` (metres) is implausible, or None.

    An object of box diagonal ``scale`` metres whose mask's box spans ``d`` pixels diagonally lies at about
    ``fx * scale / d``; degenerate keypoints (all near one pixel) put PnP tens of metres away instead.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return "empty mask"
    diag_px = float(np.hypot(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))
    expected = fx * scale / diag_px
    if not (np.isfinite(z) and expected / max_factor <= z <= expected * max_factor):
        return (f"distance {z:.2f} m disagrees with the mask's apparent size (about {expected:.2f} m for a "
                f"{scale:.2f} m object)")
    return None
