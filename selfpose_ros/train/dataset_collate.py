"""Batch assembly: stacked crops plus the exact camera motion between frames of the same instance.

``T_BA[b, a] = inv(T_map_cam[b]) @ T_map_cam[a]`` maps points in the optical frame of batch item ``a`` to
the optical frame of item ``b``. For a static object, a crop pixel (u, v) of ``a`` with depth d lifts to
``X_a = d K_a^-1 [u, v, 1]``; ``K_b @ (T_BA[b, a] X_a)`` is where that surface point appears in crop ``b``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

_STACKED = ("rgb", "depth", "mask", "K", "T_map_cam", "category", "group", "frame_index", "stamp_ns", "index",
            "visibility", "gt_scale", "gt_R", "gt_t", "gt_size")
_LISTED = ("instance_key", "category_name")


def relative_motion(T_map_cam: torch.Tensor) -> torch.Tensor:
    """All-pairs camera motion (B, B, 4, 4): entry [b, a] = inv(T[b]) @ T[a], computed in float64."""
    T = T_map_cam.to(torch.float64)
    R, t = T[:, :3, :3], T[:, :3, 3]
    inv = torch.zeros_like(T)
    inv[:, :3, :3] = R.transpose(1, 2)
    inv[:, :3, 3] = -(R.transpose(1, 2) @ t[:, :, None])[..., 0]
    inv[:, 3, 3] = 1.0
    return inv[:, None] @ T[None, :]


def find_triplets(group: Sequence[int], frame_index: Sequence[int], max_stride: int) -> torch.Tensor:
    """Batch positions (T, 3) of (L, C, R) views: same group, frame indices C - L == R - C in [1, max_stride]."""
    members: dict[int, dict[int, int]] = defaultdict(dict)
    for pos, (g, f) in enumerate(zip(group, frame_index)):
        members[int(g)].setdefault(int(f), pos)  # one position per (group, frame)
    out = []
    for frames in members.values():
        order = sorted(frames)
        for left, centre, right in zip(order, order[1:], order[2:]):
            step = centre - left
            if step == right - centre and 1 <= step <= max_stride:
                out.append((frames[left], frames[centre], frames[right]))
    return torch.tensor(out, dtype=torch.int64).reshape(-1, 3)


class TrajectoryCollate:
    """Collate function for TrajectoryDataset items (picklable, for DataLoader workers)."""

    def __init__(self, max_triplet_stride: int = 8) -> None:
        if max_triplet_stride < 1:
            raise ValueError(f"max_triplet_stride must be >= 1, got {max_triplet_stride}")
        self.max_triplet_stride = int(max_triplet_stride)

    def __call__(self, items: Sequence[dict]) -> dict:
        """Stack items; add T_BA (B,B,4,4), same_instance (B,B), pairs (P,2) [a, b] and triplets (T,3)."""
        if not items:
            raise ValueError("empty batch")
        batch = {k: torch.stack([it[k] for it in items]) for k in _STACKED if k in items[0]}
        batch.update({k: [it[k] for it in items] for k in _LISTED if k in items[0]})
        group, index = batch["group"], batch["index"]
        batch["T_BA"] = relative_motion(batch["T_map_cam"]).float()
        same = group[:, None] == group[None, :]
        batch["same_instance"] = same
        distinct = same & (index[:, None] != index[None, :])
        b, a = torch.nonzero(distinct, as_tuple=True)
        batch["pairs"] = torch.stack([a, b], dim=1)
        batch["triplets"] = find_triplets(group.tolist(), batch["frame_index"].tolist(), self.max_triplet_stride)
        return batch
