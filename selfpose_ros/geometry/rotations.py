"""Rotation representations: 6D (Zhou et al.), quaternions (ROS xyzw order) and rotation matrices.

All torch functions are batched over leading dimensions and keep the input's device and dtype.
The ``*_np`` functions are thin numpy wrappers for callers that work in numpy (ROS messages, evaluation).

Conventions:
- A rotation matrix ``R`` acts on column vectors: ``x_rotated = R @ x``.
- The 6D representation is the first two *columns* of ``R`` concatenated: ``(R[:, 0], R[:, 1])``.
  ``rotation_6d_to_matrix`` applies Gram-Schmidt to recover the nearest proper rotation.
- Quaternions are ``(x, y, z, w)``, the order of ``geometry_msgs/Quaternion`` in ROS.
  ``matrix_to_quaternion`` returns the representative with ``w >= 0``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _check_last_dims(x: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    if x.ndim < len(shape) or tuple(x.shape[-len(shape) :]) != shape:
        raise ValueError(f"{name} must have shape (..., {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Map 6D vectors (..., 6) (first two columns, unnormalised) to proper rotations (..., 3, 3)."""
    _check_last_dims(d6, (6,), "d6")
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rotation_6d(R: torch.Tensor) -> torch.Tensor:
    """Return the 6D representation (..., 6): the first two columns of ``R`` (..., 3, 3)."""
    _check_last_dims(R, (3, 3), "R")
    return torch.cat((R[..., :, 0], R[..., :, 1]), dim=-1)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Map quaternions (..., 4) in ROS ``(x, y, z, w)`` order (normalised here) to rotations (..., 3, 3)."""
    _check_last_dims(q, (4,), "q")
    norm = q.norm(dim=-1, keepdim=True)
    if bool((norm == 0).any()):
        raise ValueError("quaternion of zero norm has no rotation")
    x, y, z, w = (q / norm).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Map rotations (..., 3, 3) to unit quaternions (..., 4) in ``(x, y, z, w)`` order with ``w >= 0``."""
    _check_last_dims(R, (3, 3), "R")
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    # Four candidate solutions (Shepperd); each is accurate where its divisor is largest.
    cand_w = torch.stack((1 + m00 + m11 + m22, R[..., 2, 1] - R[..., 1, 2],
                          R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]), -1)
    cand_x = torch.stack((R[..., 2, 1] - R[..., 1, 2], 1 + m00 - m11 - m22,
                          R[..., 0, 1] + R[..., 1, 0], R[..., 0, 2] + R[..., 2, 0]), -1)
    cand_y = torch.stack((R[..., 0, 2] - R[..., 2, 0], R[..., 0, 1] + R[..., 1, 0],
                          1 - m00 + m11 - m22, R[..., 1, 2] + R[..., 2, 1]), -1)
    cand_z = torch.stack((R[..., 1, 0] - R[..., 0, 1], R[..., 0, 2] + R[..., 2, 0],
                          R[..., 1, 2] + R[..., 2, 1], 1 - m00 - m11 + m22), -1)
    # Each candidate holds (w, x, y, z) scaled by 4 * (its dominant component).
    cands = torch.stack((cand_w, cand_x, cand_y, cand_z), dim=-2)  # (..., 4 candidates, 4 wxyz)
    diag = torch.stack((cand_w[..., 0], cand_x[..., 1], cand_y[..., 2], cand_z[..., 3]), -1)
    best = diag.argmax(dim=-1)
    chosen = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    wxyz = F.normalize(chosen, dim=-1)
    wxyz = torch.where(wxyz[..., :1] < 0, -wxyz, wxyz)
    return torch.cat((wxyz[..., 1:], wxyz[..., :1]), dim=-1)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Map rotation vectors (..., 3) (axis times angle in radians) to rotations (..., 3, 3) (Rodrigues)."""
    _check_last_dims(axis_angle, (3,), "axis_angle")
    angle = axis_angle.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(half)/angle, with its limit 1/2 at zero angle.
    factor = torch.where(angle > 1e-12, torch.sin(half) / angle.clamp_min(1e-12), 0.5 - angle**2 / 48)
    q = torch.cat((axis_angle * factor, torch.cos(half)), dim=-1)
    return quaternion_to_matrix(q)


def rotation_about_y(angle: torch.Tensor) -> torch.Tensor:
    """Return rotations (..., 3, 3) about +Y by ``angle`` (...) radians."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rows = (c, zero, s, zero, one, zero, -s, zero, c)
    return torch.stack(rows, dim=-1).reshape(*angle.shape, 3, 3)


def rotation_angle(R: torch.Tensor) -> torch.Tensor:
    """Return the rotation angle in radians, in [0, pi], of rotations (..., 3, 3); accurate near 0 and pi."""
    _check_last_dims(R, (3, 3), "R")
    cos = 0.5 * (R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2] - 1)
    skew = torch.stack((R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]), -1)
    sin = 0.5 * skew.norm(dim=-1)
    return torch.atan2(sin, cos)


def relative_rotation_angle(R_a: torch.Tensor, R_b: torch.Tensor) -> torch.Tensor:
    """Return the geodesic angle in radians between rotations ``R_a`` and ``R_b`` (..., 3, 3)."""
    return rotation_angle(R_a.transpose(-1, -2) @ R_b)


def project_to_rotation(M: torch.Tensor) -> torch.Tensor:
    """Return the proper rotation (..., 3, 3) nearest in Frobenius norm to matrices ``M`` (..., 3, 3)."""
    _check_last_dims(M, (3, 3), "M")
    U, _, Vh = torch.linalg.svd(M)
    d = torch.det(U @ Vh)
    D = torch.ones(*M.shape[:-2], 3, dtype=M.dtype, device=M.device)
    D[..., 2] = d
    return (U * D[..., None, :]) @ Vh


def random_rotations(n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """Return ``n`` rotations (n, 3, 3) drawn uniformly from SO(3) (normalised Gaussian quaternions)."""
    q = torch.randn(n, 4, generator=generator, dtype=dtype, device=device)
    return quaternion_to_matrix(q)


# ---- numpy wrappers -------------------------------------------------------------------------------------


def _np_call(fn, *arrays: np.ndarray) -> np.ndarray:
    tensors = [torch.from_numpy(np.array(a, dtype=np.float64)) for a in arrays]
    return fn(*tensors).numpy()


def rotation_6d_to_matrix_np(d6: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`rotation_6d_to_matrix`."""
    return _np_call(rotation_6d_to_matrix, d6)


def matrix_to_rotation_6d_np(R: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`matrix_to_rotation_6d`."""
    return _np_call(matrix_to_rotation_6d, R)


def quaternion_to_matrix_np(q: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`quaternion_to_matrix` (``(x, y, z, w)`` order)."""
    return _np_call(quaternion_to_matrix, q)


def matrix_to_quaternion_np(R: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`matrix_to_quaternion` (``(x, y, z, w)`` order, ``w >= 0``)."""
    return _np_call(matrix_to_quaternion, R)


def rotation_about_y_np(angle: float | np.ndarray) -> np.ndarray:
    """Numpy version of :func:`rotation_about_y`."""
    return _np_call(rotation_about_y, angle)


def relative_rotation_angle_np(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`relative_rotation_angle` (radians)."""
    return _np_call(relative_rotation_angle, R_a, R_b)


def project_to_rotation_np(M: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`project_to_rotation`."""
    return _np_call(project_to_rotation, M)


def is_rotation_np(R: np.ndarray, tol: float = 1e-3) -> bool:
    """Return True when ``R`` (3, 3) is orthonormal with determinant +1 within ``tol``."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3) or not np.isfinite(R).all():
        return False
    return bool(np.abs(R.T @ R - np.eye(3)).max() <= tol and abs(np.linalg.det(R) - 1.0) <= tol)

