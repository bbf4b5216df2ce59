"""Symmetry-aware pose errors: rotation error in degrees, translation error in centimetres.

Symmetry kinds accepted by :func:`rotation_error_deg` (``SYMMETRY`` in selfpose_ros/conventions.py gives each
category's kind; :func:`error_symmetry` maps it to the kind used for errors):

- ``"none"``: geodesic angle between the rotations, ``arccos((tr(R_p^T R_g) - 1) / 2)``.
- ``"continuous_y"`` (bottle, bowl, can): any rotation about the canonical +Y axis maps the shape onto
  itself, so only the Y axis is observable: the error is the angle between the predicted and ground-truth
  Y axes (the second columns of the rotations), as in the NOCS evaluation.
- ``"flip_y"``: the shape is invariant under a 180-degree rotation about +Y (offered for callers that treat
  some categories so, e.g. a mug whose handle is hidden); the error is the smaller of the errors against
  ``R_g`` and ``R_g @ Ry(pi)``.
- ``"mirror_x"`` / ``"mirror_z"`` (laptop, mug): a *reflection* symmetry. A reflection has determinant -1,
  so ``R_g @ M`` is not a rotation: a pose estimator that outputs proper rotations has no extra equivalent
  answer to choose from, and the error is the plain geodesic angle, exactly as for ``"none"``. (The NOCS
  evaluation likewise treats mug and laptop as asymmetric; it only special-cases a mug whose handle is
  not visible, which a caller can request with ``"flip_y"`` or ``"continuous_y"`` per object.)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from selfpose_ros.conventions import SYMMETRY

ErrorSymmetry = Literal["none", "continuous_y", "flip_y"]
_KNOWN = ("none", "continuous_y", "flip_y", "mirror_x", "mirror_z")


def error_symmetry(category: str, override: str | None = None) -> ErrorSymmetry:
    """Return the symmetry used for errors of ``category``: ``override`` if given, else from SYMMETRY.

    Categories missing from SYMMETRY are treated as asymmetric ("none"); mirror kinds map to "none".
    """
    kind = override if override is not None else SYMMETRY.get(category, "none")
    if kind not in _KNOWN:
        raise ValueError(f"unknown symmetry {kind!r} for {category!r}; expected one of {_KNOWN}")
    return "none" if kind in ("mirror_x", "mirror_z") else kind  # type: ignore[return-value]


def _angle_between_rotations(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    M = np.swapaxes(R_a, -1, -2) @ R_b
    cos = 0.5 * (np.trace(M, axis1=-2, axis2=-1) - 1.0)
    skew = np.stack((M[..., 2, 1] - M[..., 1, 2], M[..., 0, 2] - M[..., 2, 0], M[..., 1, 0] - M[..., 0, 1]), -1)
    return np.arctan2(0.5 * np.linalg.norm(skew, axis=-1), cos)


def _angle_between_vectors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.arctan2(cross, (a * b).sum(-1))


def rotation_error_deg(R_pred: np.ndarray, R_gt: np.ndarray, symmetry: str = "none") -> np.ndarray:
    """Return rotation errors in degrees (...) between rotations (..., 3, 3) under ``symmetry``."""
    R_pred = np.asarray(R_pred, dtype=np.float64)
    R_gt = np.asarray(R_gt, dtype=np.float64)
    if R_pred.shape[-2:] != (3, 3) or R_gt.shape[-2:] != (3, 3):
        raise ValueError(f"rotations must be (..., 3, 3), got {R_pred.shape} and {R_gt.shape}")
    kind = error_symmetry("", symmetry)
    if kind == "continuous_y":
        rad = _angle_between_vectors(R_pred[..., :, 1], R_gt[..., :, 1])
    elif kind == "flip_y":
        flipped = R_gt @ np.diag([-1.0, 1.0, -1.0])
        rad = np.minimum(_angle_between_rotations(R_pred, R_gt), _angle_between_rotations(R_pred, flipped))
    else:
        rad = _angle_between_rotations(R_pred, R_gt)
    return np.degrees(rad)


def translation_error_cm(t_pred: np.ndarray, t_gt: np.ndarray) -> np.ndarray:
    """Return Euclidean translation errors in centimetres (...) for translations (..., 3) in metres."""
    t_pred = np.asarray(t_pred, dtype=np.float64)
    t_gt = np.asarray(t_gt, dtype=np.float64)
    if t_pred.shape[-1:] != (3,) or t_gt.shape[-1:] != (3,):
        raise ValueError(f"translations must be (..., 3), got {t_pred.shape} and {t_gt.shape}")
    return 100.0 * np.linalg.norm(t_pred - t_gt, axis=-1)


def size_error_ratio(size_pred: np.ndarray, size_gt: np.ndarray) -> np.ndarray:
    """Return the relative metric-size error ``||size_p - size_g|| / ||size_g||`` (...)."""
    size_pred = np.asarray(size_pred, dtype=np.float64)
    size_gt = np.asarray(size_gt, dtype=np.float64)
    return np.linalg.norm(size_pred - size_gt, axis=-1) / np.linalg.norm(size_gt, axis=-1)
