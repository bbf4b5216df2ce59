"""Similarity transforms ``x -> s * R @ x + t`` (scale s, rotation R, translation t), batched.

A similarity is passed as three tensors: ``s`` (...), ``R`` (..., 3, 3), ``t`` (..., 3).
``compose(a, b)`` is the transform applying ``b`` first, then ``a`` (like matrix product ``T_a @ T_b``).
In this package a pose is the similarity canonical object frame -> camera optical frame (docs/design.md).
"""

from __future__ import annotations

import numpy as np
import torch

Similarity = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _check(s: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> None:
    if R.shape[-2:] != (3, 3) or t.shape[-1:] != (3,):
        raise ValueError(f"expected R (..., 3, 3) and t (..., 3), got {tuple(R.shape)} and {tuple(t.shape)}")


def apply_similarity(s: torch.Tensor, R: torch.Tensor, t: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Return ``s * R @ p + t`` for points (..., N, 3); s (...), R (..., 3, 3), t (..., 3)."""
    _check(s, R, t)
    if points.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., N, 3), got {tuple(points.shape)}")
    s = torch.as_tensor(s, dtype=points.dtype, device=points.device)
    A = s[..., None, None] * R
    return points @ A.transpose(-1, -2) + t[..., None, :]


def compose_similarity(a: Similarity, b: Similarity) -> Similarity:
    """Return ``a o b`` (apply ``b`` first): ``(s_a s_b, R_a R_b, s_a R_a t_b + t_a)``."""
    s_a, R_a, t_a = a
    s_b, R_b, t_b = b
    _check(s_a, R_a, t_a)
    _check(s_b, R_b, t_b)
    t = s_a[..., None] * (R_a @ t_b[..., None])[..., 0] + t_a
    return s_a * s_b, R_a @ R_b, t


def invert_similarity(s: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> Similarity:
    """Return the inverse similarity ``(1/s, R^T, -R^T t / s)``; raise ValueError for zero scale."""
    _check(s, R, t)
    if bool((s == 0).any()):
        raise ValueError("a similarity with zero scale has no inverse")
    Rt = R.transpose(-1, -2)
    return 1.0 / s, Rt, -(Rt @ t[..., None])[..., 0] / s[..., None]


def similarity_to_matrix(s: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Return homogeneous 4x4 matrices (..., 4, 4) ``[[s R, t], [0, 1]]``."""
    _check(s, R, t)
    T = torch.zeros(*R.shape[:-2], 4, 4, dtype=R.dtype, device=R.device)
    T[..., :3, :3] = s[..., None, None] * R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1
    return T


def matrix_to_similarity(T: torch.Tensor) -> Similarity:
    """Split 4x4 matrices ``[[s R, t], [0, 1]]`` into ``(s, R, t)``; s = cube root of det of the 3x3 block."""
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"T must have shape (..., 4, 4), got {tuple(T.shape)}")
    A = T[..., :3, :3]
    det = torch.det(A)
    if bool((det <= 0).any()):
        raise ValueError("the 3x3 block has non-positive determinant: not a similarity with a proper rotation")
    s = det.pow(1.0 / 3.0)
    return s, A / s[..., None, None], T[..., :3, 3]


# ---- numpy wrappers -------------------------------------------------------------------------------------


def _t(x) -> torch.Tensor:
    return torch.from_numpy(np.array(x, dtype=np.float64))


def apply_similarity_np(s: float | np.ndarray, R: np.ndarray, t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`apply_similarity`."""
    return apply_similarity(_t(s), _t(R), _t(t), _t(points)).numpy()


def similarity_to_matrix_np(s: float | np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`similarity_to_matrix`."""
    return similarity_to_matrix(_t(s), _t(R), _t(t)).numpy()


def matrix_to_similarity_np(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numpy version of :func:`matrix_to_similarity`."""
    s, R, t = matrix_to_similarity(_t(T))
    return s.numpy(), R.numpy(), t.numpy()


def invert_similarity_np(s: float | np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """Numpy version of :func:`invert_similarity`."""
    return tuple(x.numpy() for x in invert_similarity(_t(s), _t(R), _t(t)))


def compose_similarity_np(a: tuple, b: tuple) -> tuple[np.ndarray, ...]:
    """Numpy version of :func:`compose_similarity`."""
    out = compose_similarity(tuple(_t(x) for x in a), tuple(_t(x) for x in b))
    return tuple(x.numpy() for x in out)


# ---- rigid transforms as homogeneous matrices ------------------------------------------------------------


def rigid(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Stack rotations (..., 3, 3) and translations (..., 3) into homogeneous matrices (..., 4, 4)."""
    R, t = np.asarray(R, dtype=float), np.asarray(t, dtype=float)
    T = np.zeros(R.shape[:-2] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_rigid(T: np.ndarray) -> np.ndarray:
    """Invert rigid transforms (..., 4, 4)."""
    R = np.swapaxes(T[..., :3, :3], -1, -2)
    return rigid(R, -np.einsum("...ij,...j->...i", R, T[..., :3, 3]))
