"""Row products of the simulator agree bit for bit with the numpy calls they replace."""

import numpy as np
import pytest

from selfpose_ros.sim.row_products import BLOCK_ROWS, matmul_rows, row_dots, row_norms


@pytest.mark.parametrize("n", [1, 7, BLOCK_ROWS, BLOCK_ROWS + 1, 3 * BLOCK_ROWS + 5])
def test_matmul_rows_is_the_whole_product(n: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, 3)).astype(np.float32)
    b = rng.standard_normal((3, 3)).astype(np.float32)
    assert np.array_equal(matmul_rows(a, b), a @ b)
    out = np.full((n, 6), np.nan, np.float32)
    matmul_rows(a, b.T, out=out[:, 3:])  # a strided destination, as the ray cast writes it
    assert np.array_equal(out[:, 3:], a @ b.T)
    assert np.all(np.isnan(out[:, :3]))


def test_matmul_rows_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="need a"):
        matmul_rows(np.zeros((4, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="out has shape"):
        matmul_rows(np.zeros((4, 3)), np.zeros((3, 3)), out=np.zeros((4, 2)))


def test_row_dots_and_norms_match_einsum_and_linalg_norm() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50_000, 3)).astype(np.float32)
    b = rng.standard_normal((50_000, 3)).astype(np.float32)
    assert np.array_equal(row_dots(a, b), np.einsum("ij,ij->i", a, b))
    assert np.array_equal(row_norms(a), np.linalg.norm(a, axis=1, keepdims=True))
    assert row_norms(a).shape == (50_000, 1)
