"""A bounded, voxel-downsampled point cloud that accumulates points over many views.

Each occupied voxel keeps the sum of its points and their count, so its point is the centroid of every
point that fell into it (depth noise averages out as views accumulate). The memory is bounded: when more
than ``max_points`` voxels are occupied, the voxel edge grows by ``2 ** (1 / 3)`` (a surface then needs
about 0.63 times as many voxels) and the cloud is re-binned from its centroids, weighted by their counts,
until it fits. So a cloud never holds more than ``max_points`` voxels (40 bytes each: an int64 key, three
float64 sums and a float64 count), whatever the number of views; a large object ends up with a coarser grid
rather than lost coverage.
"""

from __future__ import annotations

import numpy as np

_GROWTH = 2.0 ** (1.0 / 3.0)
_KEY_BITS = 21  # per axis: +-2**20 voxels, +-4 km at 4 mm
_KEY_OFFSET = 1 << (_KEY_BITS - 1)


def voxel_keys(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """One int64 key per point (N, 3): its voxel's integer coordinates packed 21 bits per axis."""
    idx = np.floor(np.asarray(points, dtype=np.float64) / voxel_size).astype(np.int64) + _KEY_OFFSET
    if idx.size and (idx.min() < 0 or idx.max() >= (1 << _KEY_BITS)):
        raise ValueError(f"points lie beyond +-{_KEY_OFFSET * voxel_size:.0f} m of the origin at voxel size "
                         f"{voxel_size} m")
    return (idx[:, 0] << (2 * _KEY_BITS)) | (idx[:, 1] << _KEY_BITS) | idx[:, 2]


def voxel_downsample(points: np.ndarray, voxel_size: float, weights: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Return (centroids (M, 3), summed weights (M,)) of the points (N, 3) binned into cubes of ``voxel_size``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    w = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not len(points):
        return np.zeros((0, 3)), np.zeros(0)
    _, inv = np.unique(voxel_keys(points, voxel_size), return_inverse=True)
    counts = np.bincount(inv, weights=w)
    sums = np.stack([np.bincount(inv, weights=w * points[:, k]) for k in range(3)], axis=1)
    return sums / counts[:, None], counts


class VoxelCloud:
    """Points accumulated in one fixed frame, one centroid per occupied voxel, at most ``max_points`` voxels."""

    def __init__(self, voxel_size: float, max_points: int) -> None:
        if not voxel_size > 0:
            raise ValueError(f"voxel_size must be > 0 metres, got {voxel_size}")
        if max_points < 1:
            raise ValueError(f"max_points must be >= 1, got {max_points}")
        self.voxel_size = float(voxel_size)
        self.max_points = int(max_points)
        self._keys = np.zeros(0, dtype=np.int64)
        self._sums = np.zeros((0, 3))
        self._counts = np.zeros(0)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def points(self) -> np.ndarray:
        """The voxel centroids (M, 3)."""
        return self._sums / self._counts[:, None] if len(self) else np.zeros((0, 3))

    @property
    def counts(self) -> np.ndarray:
        """How many points (weighted) each voxel has received (M,)."""
        return self._counts.copy()

    @property
    def nbytes(self) -> int:
        """Bytes held by the cloud's arrays."""
        return self._keys.nbytes + self._sums.nbytes + self._counts.nbytes

    def add(self, points: np.ndarray) -> int:
        """Add points (N, 3) (non-finite rows are dropped); return how many voxels are new."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        pts = pts[np.isfinite(pts).all(1)]
        if not len(pts):
            return 0
        before = len(self)
        self._merge(voxel_keys(pts, self.voxel_size), pts, np.ones(len(pts)))
        new = len(self) - before
        while len(self) > self.max_points:
            self._coarsen()
        return max(new, 0)

    def _merge(self, keys: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> None:
        all_keys = np.concatenate([self._keys, keys])
        all_sums = np.concatenate([self._sums, sums])
        all_counts = np.concatenate([self._counts, counts])
        uniq, inv = np.unique(all_keys, return_inverse=True)
        self._keys = uniq
        self._counts = np.bincount(inv, weights=all_counts)
        self._sums = np.stack([np.bincount(inv, weights=all_sums[:, k]) for k in range(3)], axis=1)

    def _coarsen(self) -> None:
        """Grow the voxel edge and re-bin the centroids (weighted by their counts)."""
        centroids, counts = self.points, self._counts
        self.voxel_size *= _GROWTH
        self._keys, self._sums, self._counts = np.zeros(0, dtype=np.int64), np.zeros((0, 3)), np.zeros(0)
        self._merge(voxel_keys(centroids, self.voxel_size), centroids * counts[:, None], counts)
