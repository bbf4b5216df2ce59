"""Batches of V videos x F frames: V (trajectory, instance) groups, F frames of each (seed paper: 16 x 4).

A batch is a flat list of V * F dataset indices, video-major: block ``v`` holds the F frames of video ``v``
in frame order. The first ``videos - chain_videos`` blocks follow ``strategy``:

- ``"spread"``: the group's frames are cut into F equal runs and one frame is drawn from each run
  (the reference's "one frame per quarter of the video");
- ``"random"``: F frames at random, any two at least ``min_spacing`` frame indices apart.

The last ``chain_videos`` blocks are chains ``c, c + stride, ..., c + (F - 1) stride`` of neighbouring
views: every three consecutive ones are an (L, C, R) triplet for the trajectory regulariser.
Batches depend only on (seed, epoch); with ``world_size`` > 1 rank r gets batches r, r + world_size, ...
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from torch.utils.data import Sampler

Strategy = Literal["spread", "random"]


def _spaced_counts(frames: np.ndarray, spacing: int) -> tuple[np.ndarray, np.ndarray]:
    """For sorted frames: next[i] = first j with frames[j] >= frames[i] + spacing; count[i] = most picks from i."""
    nxt = np.searchsorted(frames, frames + spacing, side="left")
    count = np.zeros(len(frames) + 1, dtype=np.int64)
    for i in range(len(frames) - 1, -1, -1):
        count[i] = 1 + count[nxt[i]]
    return nxt, count[:-1]


def pick_spread(frames: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of one random frame from each of ``count`` equal runs of the (sorted) frames."""
    runs = np.array_split(np.arange(len(frames)), count)
    return np.array([rng.choice(run) for run in runs])


def pick_spaced(frames: np.ndarray, count: int, spacing: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``count`` random frames pairwise >= ``spacing`` apart (always succeeds when feasible)."""
    nxt, most = _spaced_counts(frames, spacing)
    chosen, lo = [], 0
    for k in range(count):
        need = count - k
        # position p is feasible if frames from p can still hold `need` picks; `most` is non-increasing in p
        candidates = np.nonzero(most[lo:] >= need)[0] + lo
        if candidates.size == 0:
            raise ValueError(f"cannot pick {count} frames {spacing} apart from {len(frames)} frames")
        last = int(rng.choice(candidates))
        chosen.append(last)
        lo = int(nxt[last])
    return np.array(chosen)


def chain_starts(frames: np.ndarray, count: int, stride: int) -> np.ndarray:
    """Positions p such that frames[p] + k * stride is present for k = 0 .. count - 1."""
    present = set(frames.tolist())
    return np.array([p for p, f in enumerate(frames.tolist())
                     if all(f + k * stride in present for k in range(count))], dtype=np.int64)


class VideoBatchSampler(Sampler[list[int]]):
    """Yields lists of V * F dataset indices (see module docstring); deterministic given seed and epoch."""

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        frame_indices: Sequence[Sequence[int]],
        videos: int = 16,
        frames: int = 4,
        strategy: Strategy = "spread",
        min_spacing: int = 1,
        chain_videos: int = 0,
        stride: int = 3,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        batches_per_epoch: int | None = None,
        chains_optional: bool = False,
    ) -> None:
        if strategy not in ("spread", "random"):
            raise ValueError(f"strategy must be 'spread' or 'random', got {strategy!r}")
        if videos < 1 or frames < 1:
            raise ValueError(f"videos and frames must be >= 1, got {videos} x {frames}")
        if not 0 <= chain_videos <= videos:
            raise ValueError(f"chain_videos must be in [0, videos={videos}], got {chain_videos}")
        if chain_videos and frames < 3:
            raise ValueError(f"chains need frames >= 3 to hold an (L, C, R) triplet, got {frames}")
        if min_spacing < 1 or stride < 1:
            raise ValueError(f"min_spacing and stride must be >= 1, got {min_spacing} and {stride}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        if len(groups) != len(frame_indices):
            raise ValueError(f"{len(groups)} groups but {len(frame_indices)} frame index lists")
        self.videos, self.frames, self.strategy = videos, frames, strategy
        self.min_spacing, self.chain_videos, self.stride = min_spacing, chain_videos, stride
        self.seed, self.rank, self.world_size, self.epoch = int(seed), rank, world_size, 0
        self._members, self._frames = [], []
        for g, (members, fidx) in enumerate(zip(groups, frame_indices)):
            order = np.argsort(np.asarray(fidx), kind="stable")
            f = np.asarray(fidx, dtype=np.int64)[order]
            if len(f) != len(members) or np.any(np.diff(f) == 0):
                raise ValueError(f"group {g}: frame indices must be one distinct index per member")
            self._members.append(np.asarray(members, dtype=np.int64)[order])
            self._frames.append(f)
        self._normal = [g for g, f in enumerate(self._frames) if self._normal_ok(f)]
        self._chains = {g: s for g, f in enumerate(self._frames)
                        if chain_videos and len(s := chain_starts(f, frames, stride))}
        #: True when ``chains_optional`` let a sampler without any chain draw all its videos by ``strategy``
        self.chains_dropped = bool(chains_optional and chain_videos and not self._chains)
        if self.chains_dropped:
            self.chain_videos = chain_videos = 0
        if videos > chain_videos and not self._normal:
            raise ValueError(f"no group has {frames} frames usable by strategy {strategy!r} "
                             f"(min_spacing {min_spacing}); groups have {sorted(len(f) for f in self._frames)}")
        if chain_videos and not self._chains:
            raise ValueError(f"no group has a chain of {frames} frames with stride {stride}")
        n_normal = videos - chain_videos  # an epoch has enough batches to draw every eligible group once
        pool, per_batch = (len(self._normal), n_normal) if n_normal else (len(self._chains), chain_videos)
        total = batches_per_epoch or max(1, math.ceil(pool / per_batch))
        self._total = math.ceil(total / world_size) * world_size  # every rank gets the same count

    @classmethod
    def from_dataset(cls, dataset, **kwargs) -> VideoBatchSampler:
        """Sampler over a TrajectoryDataset's groups."""
        frame_indices = [[dataset.frame_index(i) for i in members] for members in dataset.groups]
        return cls(dataset.groups, frame_indices, **kwargs)

    def _normal_ok(self, f: np.ndarray) -> bool:
        if self.strategy == "spread":
            return len(f) >= self.frames
        return len(f) > 0 and int(_spaced_counts(f, self.min_spacing)[1][0]) >= self.frames

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (like DistributedSampler.set_epoch); batches differ between epochs."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self._total // self.world_size

    @staticmethod
    def _stream(pool: list[int], n: int, rng: np.random.Generator) -> list[int]:
        """``n`` group ids from back-to-back random permutations of ``pool``."""
        out: list[int] = []
        while len(out) < n:
            out.extend(rng.permutation(pool).tolist())
        return out[:n]

    def _video(self, g: int, chain: bool, rng: np.random.Generator) -> list[int]:
        f = self._frames[g]
        if chain:
            p = int(rng.choice(self._chains[g]))
            present = {v: i for i, v in enumerate(f.tolist())}
            pos = [present[int(f[p]) + k * self.stride] for k in range(self.frames)]
        elif self.strategy == "spread":
            pos = pick_spread(f, self.frames, rng).tolist()
        else:
            pos = pick_spaced(f, self.frames, self.min_spacing, rng).tolist()
        return self._members[g][pos].tolist()

    def batches(self, epoch: int) -> list[list[int]]:
        """All batches of ``epoch`` for all ranks, in global order."""
        rng = np.random.default_rng([self.seed, epoch])
        n_normal = self.videos - self.chain_videos
        normal = self._stream(self._normal, self._total * n_normal, rng) if n_normal else []
        chains = self._stream(sorted(self._chains), self._total * self.chain_videos, rng) if self.chain_videos else []
        out = []
        for b in range(self._total):
            batch: list[int] = []
            for g in normal[b * n_normal:(b + 1) * n_normal]:
                batch.extend(self._video(g, False, rng))
            for g in chains[b * self.chain_videos:(b + 1) * self.chain_videos]:
                batch.extend(self._video(g, True, rng))
            out.append(batch)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)[self.rank::self.world_size]
