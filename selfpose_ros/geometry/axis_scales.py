"""Per-axis metric size of an instance: a shape model stretched along its canonical axes to fit the depth.

A similarity fit (one scale s) gives every instance the shape model's proportions; real instances differ
(a tall drink can, a squat tin). Starting from a fitted similarity, :func:`fit_axis_scales` alternates
1. correspondences in both directions:
   - data -> model: every observed point's nearest point of the stretched, placed model, kept only within
     ``max_distance`` (3x that in the first iterations; distance-bounded: background points the fit never
     reached cannot pull it);
   - model -> data (with a depth image): every model point that faces the camera and projects onto a
     ``free`` pixel (away from the object's own surface) whose depth reading lies more than
     ``visibility_margin`` behind it, paired with its nearest observed point. Such a model claims surface
     where the camera sees through to the background: it is too tall or too wide there, and this term
     pulls it in (the data -> model term alone cannot see excess model surface). Pixels next to the
     object's surface are not free, so a right-sized model's silhouette is never pulled inwards;
   - model -> support (with a support ``plane``): model points below the plane the object stands on,
     paired with their projection onto it (without this a model too tall could hide its excess under the
     table, where the camera cannot see it). And when the model floats above the plane but the camera
     cannot see the gap (the object's own wall seen from above, or an occluder in front hides it), its
     lowest points are paired with the plane too: the object stands on its support. A gap the camera
     sees through (the table visible under the model), or one much larger than the model (the plane is
     the floor under the table), is left alone;
2. per-axis scales ``a`` and a box-centre offset by closed-form least squares in the object's canonical
   axes, each axis pulled towards the similarity's ``s`` with weight ``prior_weight`` relative to its
   data (an axis the camera does not see across, e.g. the depth of a box seen face-on, keeps s); each
   model-side term adds at most ``EXTRA_SHARE`` as many pairs as the data, and the scales change by at
   most ``MAX_STEP`` per iteration;
   solids of revolution share one scale for x and z (radius) and have their own for y (height); other
   categories may be limited to ``max_axis_ratio`` around s (a wrong yaw, e.g. a mug's handle put where
   there is none, must not turn into a wrong width);
3. optionally the rigid pose (Kabsch) of the stretched model against the same correspondences; with
   ``upright`` (the up direction, for an object known to stand upright) its canonical +Y is kept along it.

Frames and units: model points (M, 3) and normals in the canonical frame, centred on their box (canonical
units); observed points (K, 3) in the camera frame (metres); depth (H, W) metres with intrinsics K (3, 3)
and ``free`` (H, W) bool;
``x_cam = R diag(a) p + t``, so ``a`` is metres per canonical unit along canonical x, y, z and the metric
box size is ``a * extents``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from selfpose_ros.geometry.free_space import facing_seen_through
from selfpose_ros.geometry.support_plane import Plane
from selfpose_ros.geometry.upright import snap_upright

#: Each model-side term (see-through, support) adds at most this share of the data -> model pairs.
EXTRA_SHARE = 0.5
#: The scales change by at most this factor per iteration.
MAX_STEP = 1.1
#: Model points more than this below the support plane are pulled onto it (metres).
PLANE_TOLERANCE_M = 0.003
#: A gap under the model counts as hidden when at least this share of its probe points is not seen.
HIDDEN_GAP_SHARE = 0.7
#: ... and it is pulled down only across a gap of at most this many times its own height above the plane.
MAX_HIDDEN_GAP = 1.5


@dataclass(frozen=True)
class AxisScaleFit:
    """Stretched-model pose ``x_cam = R diag(scales) p + t`` and how well it fits."""

    scales: np.ndarray  # (3,) metres per canonical unit along canonical x, y, z
    rotation: np.ndarray  # (3, 3) canonical -> camera
    translation: np.ndarray  # (3,) metres, camera frame: where the model's origin (box centre) lands
    fitness: float  # fraction of observed points with a model point within max_distance
    rmse_m: float  # over those points
    iterations: int


def _axis_solution(p: np.ndarray, q: np.ndarray, prior: float, lam: np.ndarray, axes: list[int]) -> float:
    """Shared scale of ``axes`` minimising sum (a p + c - q)^2 + lam (a - prior)^2 (offsets c per axis)."""
    num = den = 0.0
    for k in axes:
        pc, qc = p[:, k] - p[:, k].mean(), q[:, k] - q[:, k].mean()
        num += float(pc @ qc) + lam[k] * prior
        den += float(pc @ pc) + lam[k]
    return num / den if den > 0 else prior


def _thinning(extra: int, pairs: int) -> int:
    """Step that keeps at most ``EXTRA_SHARE * pairs`` of ``extra`` model-side pairs."""
    return max(1, int(np.ceil(extra / max(EXTRA_SHARE * pairs, 1.0))))


def _kabsch(C: np.ndarray) -> np.ndarray:
    """The rotation R maximising trace(R^T C) for a 3x3 cross-covariance C (proper: det +1)."""
    U, _, Vt = np.linalg.svd(C)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    return U @ D @ Vt


def _hidden_gap(
    x: np.ndarray,
    sd: np.ndarray,
    plane: Plane,
    depth: np.ndarray,
    K: np.ndarray,
    margin: float,
    probes: int = 4,
    max_points: int = 200,
) -> np.ndarray:
    """Lowest placed model points (bool (M,)) to pull onto the plane when the gap below them is hidden."""
    low = float(sd.min())
    pull = np.zeros(len(x), bool)
    if low <= PLANE_TOLERANCE_M or low > MAX_HIDDEN_GAP * float(np.ptp(sd)):
        return pull  # touching already, or so far above that the plane cannot be its support
    bottom = np.flatnonzero(sd < low + 0.1 * float(np.ptp(sd)) + PLANE_TOLERANCE_M)
    sub = bottom[:: max(1, len(bottom) // max_points)]
    f = (np.arange(1, probes + 1) / (probes + 1))[:, None, None]  # between the model and the plane
    y = (x[sub] - f * sd[sub, None] * plane.normal).reshape(-1, 3)
    y = y[y[:, 2] > 1e-3]
    if len(y) == 0:
        return pull
    uvw = y @ np.asarray(K, np.float64).T
    u = np.round(uvw[:, 0] / uvw[:, 2]).astype(np.int64)
    v = np.round(uvw[:, 1] / uvw[:, 2]).astype(np.int64)
    h, w = depth.shape
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    z = np.full(len(y), np.nan)
    z[inside] = depth[v[inside], u[inside]]
    hidden = ~np.isfinite(z) | (z < y[:, 2] - margin)  # out of view, no reading, or something in front
    if hidden.mean() >= HIDDEN_GAP_SHARE:
        pull[bottom] = True
    return pull


def fit_axis_scales(
    model_points: np.ndarray,
    observed_points: np.ndarray,
    rotation: np.ndarray,
    translation: np.ndarray,
    scale: float,
    *,
    revolution: bool = False,
    model_normals: np.ndarray | None = None,
    depth: np.ndarray | None = None,
    K: np.ndarray | None = None,
    free: np.ndarray | None = None,
    plane: Plane | None = None,
    upright: np.ndarray | None = None,
    max_distance: float = 0.01,
    visibility_margin: float = 0.02,
    max_axis_ratio: float | None = None,
    iterations: int = 20,
    prior_weight: float = 0.05,
    refine_pose: bool = True,
    scale_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = 5e-4,
    max_observed: int = 1200,
) -> AxisScaleFit:
    """Stretch the centred model (M, 3) along its axes to fit observed points (K, 3); see the module docstring.

    Starts from the similarity ``(scale, rotation, translation)``. The model -> data term needs
    ``model_normals`` (M, 3), ``depth``, ``K`` and ``free``; without them only data -> model pairs are used.
    ``scale_bounds`` (low (3,), high (3,)), metres per canonical unit, clip the scales after every step.
    At most ``max_observed`` observed points are used (evenly thinned).
    Raises ValueError on malformed input.
    """
    P = np.asarray(model_points, np.float64)
    X = np.asarray(observed_points, np.float64)
    if P.ndim != 2 or P.shape[1] != 3 or X.ndim != 2 or X.shape[1] != 3:
        raise ValueError(f"model_points and observed_points must be (N, 3), got {P.shape}, {X.shape}")
    if not (np.isfinite(scale) and scale > 0 and max_distance > 0):
        raise ValueError(f"scale and max_distance must be positive, got {scale}, {max_distance}")
    two_way = model_normals is not None and depth is not None and K is not None and free is not None
    N = np.asarray(model_normals, np.float64) if two_way else np.zeros_like(P)
    if N.shape != P.shape:
        raise ValueError(f"model_normals {N.shape} must match model_points {P.shape}")
    finite = np.isfinite(P).all(1) & np.isfinite(N).all(1)
    P, N, X = P[finite], N[finite], X[np.isfinite(X).all(1)]
    X = X[:: -(-len(X) // max_observed)]  # evenly thinned to at most max_observed: enough for three scales and a pose
    R, t = np.asarray(rotation, np.float64).copy(), np.asarray(translation, np.float64).copy()
    a = np.full(3, float(scale))
    if len(P) < 4 or len(X) < 4:
        return AxisScaleFit(a, R, t, 0.0, 0.0, 0)
    var = P.var(0).mean()  # the prior term's unit: one average axis variance per point
    lo, hi = (None, None) if scale_bounds is None else (np.asarray(scale_bounds[0]), np.asarray(scale_bounds[1]))
    obs_tree = cKDTree(X) if two_way else None
    it = 0
    for it in range(1, iterations + 1):  # noqa: B007 - the count is reported
        q = (X - t) @ R  # observed points in the canonical axes, metres, relative to the box centre
        reach = max_distance * (1.0 + 2.0 * max(0.0, 1.0 - 2.0 * it / iterations))  # 3x early, 1x after half
        d, j = cKDTree(P * a).query(q, distance_upper_bound=reach)
        ok = np.isfinite(d)
        pm, qm = P[j[ok]], q[ok]
        # each model-side term (see-through, support) adds at most EXTRA_SHARE of the pairs so far, evenly thinned
        if two_way:
            vis, _ = facing_seen_through(P * a @ R.T + t, N / a @ R.T, depth, K, free, visibility_margin)
            if len(vis):
                vis = vis[::_thinning(len(vis), len(pm))]  # thinned before the nearest-point query, not after
                _, i_obs = obs_tree.query(P[vis] * a @ R.T + t)
                pm, qm = np.vstack((pm, P[vis])), np.vstack((qm, q[i_obs]))
        if plane is not None:
            x = P * a @ R.T + t
            sd = plane.signed_distance(x)
            pull = sd < -PLANE_TOLERANCE_M
            if not pull.any() and two_way:
                pull = _hidden_gap(x, sd, plane, depth, K, visibility_margin)
            if pull.any():
                idx = np.flatnonzero(pull)
                idx = idx[::_thinning(len(idx), len(pm))]
                target = x[idx] - sd[idx, None] * plane.normal
                pm, qm = np.vstack((pm, P[idx])), np.vstack((qm, (target - t) @ R))
        if len(pm) < 4:
            break
        lam = np.full(3, prior_weight * len(pm) * var)
        if revolution:
            r = _axis_solution(pm, qm, float(scale), lam, [0, 2])
            a_new = np.array([r, _axis_solution(pm, qm, float(scale), lam, [1]), r])
        else:
            a_new = np.array([_axis_solution(pm, qm, float(scale), lam, [k]) for k in range(3)])
        a_new = np.maximum(a_new, 1e-3 * scale)
        if max_axis_ratio is not None:
            a_new = np.clip(a_new, scale / max_axis_ratio, scale * max_axis_ratio)
        a_new = np.clip(a_new, a / MAX_STEP, a * MAX_STEP)  # damped: the correspondences change with a
        if lo is not None:
            a_new = np.clip(a_new, lo, hi)
        c = qm.mean(0) - a_new * pm.mean(0)  # box-centre offset in the canonical axes
        t_new = t + R @ c
        if refine_pose:
            m = pm * a_new  # stretched model points (canonical axes, metres) and their camera-frame targets
            y = qm @ R.T + t
            R_new = _kabsch((y - y.mean(0)).T @ (m - m.mean(0)))
            if upright is not None:
                R_new = snap_upright(R_new, upright)
            t_new = y.mean(0) - R_new @ m.mean(0)
            R = R_new
        change = float(np.abs(a_new - a).max() / scale + np.linalg.norm(t_new - t) / scale)
        a, t = a_new, t_new
        if change < tol:
            break
    q = (X - t) @ R
    d, _ = cKDTree(P * a).query(q, distance_upper_bound=max_distance)
    ok = np.isfinite(d)
    rmse = float(np.sqrt(np.mean(d[ok] ** 2))) if ok.any() else 0.0
    return AxisScaleFit(a, R, t, float(ok.mean()), rmse, it)


def surface_samples(vertices: np.ndarray, faces: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points (n, 3) spread over a triangle mesh's surface by area, and their unit face normals (n, 3).

    Deterministic for a seed. Normals follow the faces' winding (outwards for the shipped priors).
    """
    V = np.asarray(vertices, np.float64)
    F = np.asarray(faces, np.int64)
    if V.ndim != 2 or V.shape[1] != 3 or F.ndim != 2 or F.shape[1] != 3 or len(F) == 0:
        raise ValueError(f"need vertices (V, 3) and faces (F>0, 3), got {V.shape}, {F.shape}")
    tri = V[F]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    if not area.sum() > 0:
        raise ValueError("mesh has no surface area")
    rng = np.random.default_rng(seed)
    face = rng.choice(len(F), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)
    normals = cross[face] / np.maximum(2.0 * area[face, None], 1e-12)
    return np.einsum("nk,nkd->nd", w, tri[face]), normals
