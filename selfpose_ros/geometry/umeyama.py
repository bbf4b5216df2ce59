"""Weighted Umeyama: the least-squares similarity ``dst ~ s * R @ src + t``, batched over leading dims.

Umeyama (1991) with per-point weights w_i >= 0 minimises ``sum_i w_i ||dst_i - (s R src_i + t)||^2``.
With C = sum_i w_i (dst_i - mu_dst)(src_i - mu_src)^T = U S V^T, the optimal rotation is
``R = U diag(1, 1, d) V^T`` with ``d = sign(det U det V)``: the sign flip is the reflection handling,
so R is always a proper rotation (det +1) even when the best orthogonal fit would be a reflection.
Then ``s = tr(diag(1, 1, d) S) / var_src`` and ``t = mu_dst - s R mu_src``.

Two interchangeable rotation solvers are offered (same optimum, both always proper):
- ``"svd"``: the formula above, via ``torch.linalg.svd``.
- ``"horn"``: Horn's (1987) closed form, the top eigenvector of a symmetric 4x4 matrix built from C
  (``torch.linalg.eigh``); slightly faster for large batches of small problems on CPU
  (see benchmarks/solver.py).
"""

from __future__ import annotations

from typing import Literal

import torch

from selfpose_ros.geometry.rotations import quaternion_to_matrix

RotationSolver = Literal["svd", "horn"]


def _validate(src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor | None) -> None:
    if src.ndim < 2 or src.shape[-1] != 3:
        raise ValueError(f"src must have shape (..., N, 3), got {tuple(src.shape)}")
    if dst.shape != src.shape:
        raise ValueError(f"dst must have the shape of src {tuple(src.shape)}, got {tuple(dst.shape)}")
    if src.shape[-2] < 3:
        raise ValueError(f"Umeyama needs at least 3 point pairs, got {src.shape[-2]}")
    if weights is not None:
        if weights.shape != src.shape[:-1]:
            raise ValueError(f"weights must have shape {tuple(src.shape[:-1])}, got {tuple(weights.shape)}")
        if bool((weights < 0).any()) or not bool(torch.isfinite(weights).all()):
            raise ValueError("weights must be finite and non-negative")
        if bool((weights.sum(-1) <= 0).any()):
            raise ValueError("weights sum to zero for at least one problem in the batch")


def cross_covariance(
    src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(mu_src, mu_dst, C, var_src)``: weighted means, C = E[(dst-mu)(src-mu)^T], E||src-mu||^2."""
    if weights is None:
        mu_src, mu_dst = src.mean(-2), dst.mean(-2)
        xc = src - mu_src[..., None, :]
        yc = dst - mu_dst[..., None, :]
        n = src.shape[-2]
        C = yc.transpose(-1, -2) @ xc / n
        var_src = (xc * xc).sum((-1, -2)) / n
        return mu_src, mu_dst, C, var_src
    w = weights.to(src.dtype)
    w = w / w.sum(-1, keepdim=True)
    mu_src = (w[..., None] * src).sum(-2)
    mu_dst = (w[..., None] * dst).sum(-2)
    xc = src - mu_src[..., None, :]
    yc = dst - mu_dst[..., None, :]
    C = (yc * w[..., None]).transpose(-1, -2) @ xc
    var_src = (w * (xc * xc).sum(-1)).sum(-1)
    return mu_src, mu_dst, C, var_src


def det3(M: torch.Tensor) -> torch.Tensor:
    """Return determinants (...) of 3x3 matrices (...,3,3) by the triple product (faster than LU on CPU)."""
    return (torch.linalg.cross(M[..., 0, :], M[..., 1, :], dim=-1) * M[..., 2, :]).sum(-1)


def rotation_from_covariance(C: torch.Tensor, method: RotationSolver = "svd") -> torch.Tensor:
    """Return the proper rotation R (..., 3, 3) maximising ``tr(R^T C)`` for C (..., 3, 3)."""
    if method == "svd":
        U, _, Vh = torch.linalg.svd(C)
        d = det3(U) * det3(Vh)
        U = torch.cat((U[..., :2], U[..., 2:] * torch.sign(d)[..., None, None]), dim=-1)
        # sign(0) cannot happen for orthogonal U, Vh; keep R proper regardless.
        return U @ Vh
    if method == "horn":
        # Horn's N matrix uses S = C^T (S_ab = sum x_a y_b, source then target).
        S = C.transpose(-1, -2)
        sxx, sxy, sxz = S[..., 0, 0], S[..., 0, 1], S[..., 0, 2]
        syx, syy, syz = S[..., 1, 0], S[..., 1, 1], S[..., 1, 2]
        szx, szy, szz = S[..., 2, 0], S[..., 2, 1], S[..., 2, 2]
        rows = (
            sxx + syy + szz, syz - szy, szx - sxz, sxy - syx,
            syz - szy, sxx - syy - szz, sxy + syx, szx + sxz,
            szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy,
            sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz,
        )  # fmt: skip
        N = torch.stack(rows, dim=-1).reshape(*C.shape[:-2], 4, 4)
        _, vecs = torch.linalg.eigh(N)
        wxyz = vecs[..., :, 3]  # eigenvalues ascend: last column is the top eigenvector
        return quaternion_to_matrix(torch.cat((wxyz[..., 1:], wxyz[..., :1]), dim=-1))
    raise ValueError(f"unknown rotation solver {method!r}; use 'svd' or 'horn'")


def _solve(
    mu_src: torch.Tensor, mu_dst: torch.Tensor, C: torch.Tensor, var_src: torch.Tensor, with_scale: bool,
    method: RotationSolver,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    R = rotation_from_covariance(C, method)
    s = (R * C).sum((-1, -2)) / var_src if with_scale else torch.ones_like(var_src)
    t = mu_dst - s[..., None] * (R @ mu_src[..., None])[..., 0]
    return s, R, t


def umeyama_unchecked(
    src: torch.Tensor,
    dst: torch.Tensor,
    weights: torch.Tensor | None = None,
    with_scale: bool = True,
    method: RotationSolver = "svd",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`umeyama` without input validation (for hot loops); degenerate inputs give s = 0, inf or NaN."""
    return _solve(*cross_covariance(src, dst, weights), with_scale, method)


def umeyama(
    src: torch.Tensor,
    dst: torch.Tensor,
    weights: torch.Tensor | None = None,
    with_scale: bool = True,
    method: RotationSolver = "svd",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(s (...), R (..., 3, 3), t (..., 3))`` minimising the weighted error ``dst ~ s R src + t``."""
    _validate(src, dst, weights)
    if not (bool(torch.isfinite(src).all()) and bool(torch.isfinite(dst).all())):
        raise ValueError("src and dst must be finite (drop NaN points first, or use ransac_umeyama)")
    mu_src, mu_dst, C, var_src = cross_covariance(src, dst, weights)
    if with_scale and bool((var_src <= torch.finfo(src.dtype).tiny).any()):
        raise ValueError("src points coincide (zero spread): scale is undefined")
    return _solve(mu_src, mu_dst, C, var_src, with_scale, method)
