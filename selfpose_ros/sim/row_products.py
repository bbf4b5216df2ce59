"""Products of many short rows with a small matrix, kept on the calling thread (no BLAS thread pool).

OpenBLAS splits one large ``(N, 3) @ (3, 3)`` product over its threads; on a 2-core machine already busy with
other work those threads wait on each other and the product took 68 ms instead of 1.8 ms for N = 307 200
(benchmarks/sim_realism.py, docs/simulator.md). Products of row blocks small enough for OpenBLAS to run on
one thread are bit-identical to the whole product (each output element is the same dot product).
"""

from __future__ import annotations

import numpy as np

#: Rows per block: ``rows * 3 * 3`` stays below OpenBLAS's single-thread limit for GEMM (65536 * 4).
BLOCK_ROWS = 16384


def matmul_rows(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for ``a`` (N, K) and a small ``b`` (K, M), computed block by block on the calling thread."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"need a (N, K) and b (K, M), got {a.shape} and {b.shape}")
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    elif out.shape != (a.shape[0], b.shape[1]):
        raise ValueError(f"out has shape {out.shape}, expected {(a.shape[0], b.shape[1])}")
    for start in range(0, a.shape[0], BLOCK_ROWS):
        stop = start + BLOCK_ROWS
        np.matmul(a[start:stop], b, out=out[start:stop])
    return out


def row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products (N,) of the rows of ``a`` and ``b`` (N, 3): ``einsum("ij,ij->i")``, summed in the same order."""
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


def row_norms(a: np.ndarray) -> np.ndarray:
    """Lengths (N, 1) of the rows of ``a`` (N, 3): ``np.linalg.norm(a, axis=1, keepdims=True)``, same sums."""
    return np.sqrt(row_dots(a, a))[:, None]
