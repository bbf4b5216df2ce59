"""RANSAC around Umeyama: a robust similarity ``dst ~ s R src + t`` from 3D-3D correspondences.

Algorithm (all hypotheses of a chunk are solved and scored at once, no Python loop per hypothesis):
1. Drop correspondences with a non-finite coordinate (NaN depth etc.); they are never inliers.
2. Draw a chunk of minimal samples (``sample_size`` indices each, 3 by default), reject samples whose
   first three source points are (nearly) collinear, solve all of them with one batched Umeyama call.
3. Score every hypothesis by its inlier count: pairs with ``||s R src + t - dst|| < threshold`` (metres).
4. Keep the best; stop when the standard adaptive count ``log(1 - p) / log(1 - w^m)`` is reached
   (p = ``confidence``, w = best inlier ratio, m = sample size) or after ``max_iterations``.
5. Refit Umeyama (weighted, if weights are given) on the inliers, recompute inliers, repeat up to
   ``refine_iterations`` times while the inlier set changes and the count does not drop.
Fails cleanly (``success`` False, no pose) with too few usable points, no non-degenerate sample, too few
inliers, or an inlier ratio under ``min_inlier_ratio``. Device-agnostic: runs where the inputs live.

Speed (benchmarks/solver.py): hypotheses are scored with one matrix product, expanding
``||s R x + t - y||^2`` into per-point features (N, 17) times per-hypothesis coefficients (17, B), on clouds
centred first for float32 accuracy. On CPU these tensors are small: one torch intra-op thread
(``torch.set_num_threads(1)``, the caller's choice) is fastest, and much faster on a loaded machine.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from selfpose_ros.geometry.pose_fit import PoseFit, failed_fit
from selfpose_ros.geometry.umeyama import RotationSolver, umeyama_unchecked


def required_iterations(inlier_ratio: float, sample_size: int, confidence: float) -> float:
    """Return the RANSAC iteration count giving ``confidence`` of drawing one all-inlier sample."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    p_good = inlier_ratio**sample_size
    if p_good <= 0.0:
        return math.inf
    if p_good >= 1.0:
        return 0.0
    return math.log1p(-confidence) / math.log1p(-p_good)


def sample_confidence(inlier_ratio: float, sample_size: int, iterations: int) -> float:
    """Return the probability that ``iterations`` random samples contained at least one all-inlier sample."""
    p_good = min(max(inlier_ratio, 0.0), 1.0) ** sample_size
    return float(1.0 - (1.0 - p_good) ** iterations)


def _as_tensor(x, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    else:
        t = torch.from_numpy(np.array(x, dtype=np.float64))
    if like is not None:
        t = t.to(device=like.device, dtype=like.dtype)
    elif not t.is_floating_point():
        t = t.double()
    return t


def _inlier_mask(s, R, t, src, dst, thr2: float) -> torch.Tensor:
    A = (s[..., None, None] * R).transpose(-1, -2)
    pred = torch.baddbmm(t[:, None, :], src.expand(A.shape[0], -1, -1), A)
    return ((pred - dst) ** 2).sum(-1) < thr2


def _point_features(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pair features F (N, 17) such that ``||s R x + t - y||^2 - ||y||^2 = F @ h(s, R, t)``."""
    outer = (y[:, :, None] * x[:, None, :]).reshape(-1, 9)
    ones = torch.ones_like(x[:, :1])
    return torch.cat((x, y, outer, (x * x).sum(-1, keepdim=True), ones), dim=-1)


def _hypothesis_coefficients(s: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Coefficients h (B, 17) matching :func:`_point_features` (uses ``||s R x||^2 = s^2 ||x||^2``)."""
    A = s[:, None, None] * R
    At_t = (A.transpose(-1, -2) @ t[:, :, None])[..., 0]
    return torch.cat((2 * At_t, -2 * t, -2 * A.reshape(-1, 9), (s * s)[:, None], (t * t).sum(-1, keepdim=True)),
                     dim=-1)


def ransac_umeyama(
    src,
    dst,
    threshold: float,
    *,
    weights=None,
    sample_size: int = 3,
    confidence: float = 0.999,
    max_iterations: int = 2000,
    chunk_size: int = 256,
    first_chunk: int = 64,
    min_inliers: int = 6,
    min_inlier_ratio: float = 0.0,
    refine_iterations: int = 3,
    with_scale: bool = True,
    method: RotationSolver = "svd",
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> PoseFit:
    """Fit ``dst ~ s R src + t`` robustly; src/dst (N, 3) torch or numpy, threshold in metres (dst units)."""
    src_t = _as_tensor(src, "src")
    dst_t = _as_tensor(dst, "dst", like=src_t)
    if src_t.ndim != 2 or src_t.shape[-1] != 3 or dst_t.shape != src_t.shape:
        raise ValueError(f"src and dst must both be (N, 3), got {tuple(src_t.shape)} and {tuple(dst_t.shape)}")
    if not threshold > 0:
        raise ValueError(f"threshold must be positive (metres), got {threshold}")
    if sample_size < 3:
        raise ValueError(f"sample_size must be >= 3 for a similarity, got {sample_size}")
    if max_iterations < 1 or chunk_size < 1:
        raise ValueError("max_iterations and chunk_size must be >= 1")
    required_iterations(0.5, sample_size, confidence)  # validates confidence
    w_t = None
    if weights is not None:
        w_t = _as_tensor(weights, "weights", like=src_t)
        if w_t.shape != src_t.shape[:1]:
            raise ValueError(f"weights must be (N,) = {tuple(src_t.shape[:1])}, got {tuple(w_t.shape)}")
        if bool((w_t < 0).any()):
            raise ValueError("weights must be non-negative")

    n_input = src_t.shape[0]
    usable = torch.isfinite(src_t).all(-1) & torch.isfinite(dst_t).all(-1)
    if w_t is not None:
        usable &= torch.isfinite(w_t)
    usable_idx = torch.nonzero(usable).squeeze(-1)
    n = int(usable_idx.numel())
    need = max(sample_size, min_inliers)
    if n < need:
        return failed_fit(f"too few usable correspondences: {n} finite of {n_input}, need {need}", n_input, n)
    x = src_t[usable_idx]
    y = dst_t[usable_idx]
    wv = w_t[usable_idx] if w_t is not None else None
    if generator is None and seed is not None:
        generator = torch.Generator(device=x.device).manual_seed(seed)

    # Centre both clouds: the pose is estimated between centred clouds and converted back at the end,
    # which keeps the expanded squared residuals below well conditioned in float32.
    cx, cy = x.mean(0), y.mean(0)
    x, y = x - cx, y - cy
    thr2 = float(threshold) ** 2
    feats = _point_features(x, y)
    bound = thr2 - (y * y).sum(-1)  # inlier iff F @ h < thr^2 - ||y||^2
    min_area = 1e-6 * float((x * x).sum(-1).mean())
    best_count, best_hyp, done, needed = 0, None, 0, float(max_iterations)
    batch = min(first_chunk, chunk_size, max_iterations)
    while done < min(needed, max_iterations):
        idx = torch.randint(n, (batch, sample_size), generator=generator, device=x.device)
        xs, ys = x[idx], y[idx]
        area = torch.linalg.cross(xs[:, 1] - xs[:, 0], xs[:, 2] - xs[:, 0], dim=-1).norm(dim=-1)
        s, R, t = umeyama_unchecked(xs, ys, None, with_scale, method)
        valid = (area > min_area) & torch.isfinite(s) & (s > 0) & torch.isfinite(t).all(-1)
        h = _hypothesis_coefficients(s, R, t)
        counts = ((feats @ h.T) < bound[:, None]).sum(0)
        counts = torch.where(valid, counts, -1)
        k = int(counts.argmax())
        if int(counts[k]) > best_count:
            best_count, best_hyp = int(counts[k]), (s[k : k + 1], R[k : k + 1], t[k : k + 1])
        done += batch
        needed = required_iterations(best_count / n, sample_size, confidence)
        batch = int(min(chunk_size, max_iterations - done, max(needed - done, 16)))
    best_mask = None if best_hyp is None else _inlier_mask(*best_hyp, x, y, thr2)[0]
    best_count = 0 if best_mask is None else int(best_mask.sum())
    if best_mask is None or best_count == 0:
        return failed_fit("no non-degenerate sample produced any inlier", n_input, n, done)
    if best_count < need:
        return failed_fit(f"too few inliers: {best_count} of {n}, need {need}", n_input, n, done)

    pose, mask, count = None, best_mask, best_count
    for _ in range(max(1, refine_iterations)):
        sel = torch.nonzero(mask).squeeze(-1)
        s, R, t = umeyama_unchecked(x[sel][None], y[sel][None], None if wv is None else wv[sel][None],
                                    with_scale, method)
        if not (bool(torch.isfinite(s).all()) and float(s) > 0):
            break
        new_mask = _inlier_mask(s, R, t, x, y, thr2)[0]
        new_count = int(new_mask.sum())
        if pose is not None and new_count < count:
            break  # keep the previous refit, whose inliers it was fitted on
        same = bool((new_mask == mask).all())
        pose, mask, count = (s[0], R[0], t[0]), new_mask, new_count
        if same:
            break
    if pose is None:
        return failed_fit("refit on the inliers was degenerate", n_input, n, done)

    ratio = count / n
    full_mask = torch.zeros(n_input, dtype=torch.bool, device=x.device)
    full_mask[usable_idx] = mask
    full_mask_np = full_mask.cpu().numpy()
    if count < need:
        return failed_fit(f"too few inliers after refit: {count} of {n}, need {need}", n_input, n, done,
                          full_mask_np, ratio)
    if ratio < min_inlier_ratio:
        return failed_fit(f"inlier ratio {ratio:.3f} below min_inlier_ratio {min_inlier_ratio}", n_input, n,
                          done, full_mask_np, ratio)
    s, R, t = (p.detach().cpu().double().numpy() for p in pose)
    t = t + cy.detach().cpu().double().numpy() - float(s) * R @ cx.detach().cpu().double().numpy()
    return PoseFit(success=True, scale=float(s), rotation=R, translation=t, inlier_mask=full_mask_np,
                   inlier_ratio=ratio, confidence=sample_confidence(ratio, sample_size, done),
                   num_correspondences=n, iterations=done)
