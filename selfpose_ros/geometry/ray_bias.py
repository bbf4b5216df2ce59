"""A depth camera's offset along its rays, from static objects seen along a known camera trajectory.

A depth scale error or offset moves every measured point along its ray, and one view cannot tell. Along a
trajectory whose camera poses are known (the robot's ego-motion) the rays turn, so a static object's world
position, measured from each view, wanders with them. The model: the estimate ``t`` (camera frame) of an object
whose true centre is ``t*`` is ``t = t* + delta * t / |t|``. In the world frame (``w = R t + p``) each object's
true centre ``m`` is one point:

    R t + p = m + delta * R t / |t|

which is linear in ``delta`` once every object's ``m`` is eliminated (its weighted mean); the rays run from each
camera position to the object's mean position. Objects whose views do not turn add nothing. A Huber-weighted
least squares with a zero-mean Gaussian prior solves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Huber threshold, in robust residual scales.
HUBER_K = 1.5
#: The residual scale never goes below this (metres): per-frame estimates are never better.
MIN_SIGMA = 0.002


@dataclass(frozen=True)
class RayBias:
    """A fitted offset ``delta`` along the rays (metres, + = away from the camera), its std and the residual scale."""

    delta: float
    std: float  # metres
    sigma: float  # per-axis residual scale, metres
    n: int  # observations that counted (of objects seen at least twice)


def world_rays(p: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Unit rays (N, 3) from camera positions ``p`` (N, 3) to world points ``centre`` (N, 3)."""
    d = centre - p
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def pull_along_rays(t: np.ndarray, delta: float) -> np.ndarray:
    """Camera-frame points (N, 3) moved ``delta`` metres towards the camera along their own rays."""
    return t - delta * t / np.linalg.norm(t, axis=1, keepdims=True)


def fit_ray_bias(R: np.ndarray, p: np.ndarray, t: np.ndarray, track: np.ndarray, prior_std: float,
                 iterations: int = 5) -> RayBias | None:
    """Fit ``delta`` to N observations: camera rotations ``R`` (N, 3, 3) and positions ``p`` (N, 3) in a static
    frame, camera-frame object centres ``t`` (N, 3) and their object ids ``track`` (N,). None when no object
    was seen twice."""
    R, p, t = (np.asarray(x, dtype=np.float64) for x in (R, p, t))
    _, inverse, counts = np.unique(np.asarray(track), return_inverse=True, return_counts=True)
    keep = counts[inverse] >= 2
    if not keep.any():
        return None
    R, p, t = R[keep], p[keep], t[keep]
    ids = np.unique(inverse[keep], return_inverse=True)[1]
    w = np.einsum("nij,nj->ni", R, t) + p
    # The rays run to each object's mean position, not to each noisy estimate: a ray that turned with an
    # estimate's own error would correlate with it and read noise as an offset.
    d = world_rays(p, w - _centred(w, ids, np.ones(len(w))))
    weights = np.ones(len(t))
    delta, var, sigma = 0.0, prior_std**2, MIN_SIGMA
    wc, dc = _centred(w, ids, weights), _centred(d, ids, weights)
    for _ in range(iterations):
        resid = np.linalg.norm(wc - delta * dc, axis=1)
        sigma = max(1.4826 * float(np.median(resid)) / np.sqrt(2.0), MIN_SIGMA)  # per-axis scale from 3D norms
        weights = np.minimum(1.0, HUBER_K * sigma / np.maximum(resid, 1e-12))
        wc, dc = _centred(w, ids, weights), _centred(d, ids, weights)
        information = float(np.sum(weights * np.sum(dc * dc, axis=1))) / sigma**2 + 1.0 / prior_std**2
        var = 1.0 / information
        delta = var * float(np.sum(weights * np.sum(dc * wc, axis=1))) / sigma**2
    return RayBias(delta, float(np.sqrt(var)), sigma, int(len(t)))


def _centred(x: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rows (N, 3) minus their object's weighted mean."""
    n = ids.max() + 1
    total = np.bincount(ids, weights, n)
    mean = np.stack([np.bincount(ids, weights * x[:, k], n) for k in range(3)], axis=1) / total[:, None]
    return x - mean[ids]
