"""Snap a fitted rotation to gravity: objects that stand upright have their canonical +Y along "up"."""

from __future__ import annotations

import numpy as np


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations (..., 3, 3) taking unit vectors ``a`` (..., 3) onto ``b`` (..., 3) (Rodrigues)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.sqrt((a * a).sum(-1, keepdims=True))
    b = b / np.sqrt((b * b).sum(-1, keepdims=True))
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    v0, v1, v2 = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0  # a x b, written out: small arrays
    c = a0 * b0 + a1 * b1 + a2 * b2
    zero = np.zeros_like(c)
    vx = np.stack([np.stack([zero, -v2, v1], -1), np.stack([v2, zero, -v0], -1), np.stack([-v1, v0, zero], -1)], -2)
    # 1 / (1 + c) blows up for opposite vectors: use a half-turn about any axis orthogonal to a there
    k = 1.0 / np.clip(1.0 + c, 1e-12, None)
    R = np.eye(3) + vx + vx @ vx * k[..., None, None]
    opposite = c < -1.0 + 1e-9
    if np.any(opposite):
        helper = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
        axis = np.cross(a, helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        half = 2.0 * axis[..., :, None] * axis[..., None, :] - np.eye(3)
        R = np.where(opposite[..., None, None], half, R)
    return R


def tilt_deg(R: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Angle (degrees) between the canonical +Y of rotations R (..., 3, 3) and the unit ``up`` (..., 3)."""
    y = np.asarray(R)[..., :, 1]
    up = np.asarray(up, np.float64) / np.linalg.norm(up, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(y * up, axis=-1), -1.0, 1.0)))


def snap_upright(R: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) closest to R whose canonical +Y points along ``up``; the yaw about up is kept."""
    R = np.asarray(R, np.float64)
    return rotation_between(R[..., :, 1], np.broadcast_to(up, R.shape[:-1])) @ R
