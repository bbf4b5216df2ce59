"""Video batch sampler (V videos x F frames, chains for triplets, sharding) and the batch collate."""

import numpy as np
import pytest
import torch

from selfpose_ros.geometry.rotations import random_rotations
from selfpose_ros.train.dataset_collate import TrajectoryCollate, find_triplets, relative_motion
from selfpose_ros.train.sampler import VideoBatchSampler, pick_spaced


def _groups(lengths, holes=()):
    """Groups of consecutive dataset indices; frame indices 0..n-1 except the ``holes`` (removed frames)."""
    groups, frames, start = [], [], 0
    for n in lengths:
        f = [i for i in range(n) if i not in holes]
        groups.append(list(range(start, start + len(f))))
        frames.append(f)
        start += len(f)
    return groups, frames


def _frame_of(groups, frames):
    return {i: (g, f) for g, (members, fr) in enumerate(zip(groups, frames)) for i, f in zip(members, fr)}


def test_batches_are_v_videos_of_f_frames_and_deterministic():
    groups, frames = _groups([100, 40, 12, 3, 60, 25, 30, 8])
    lookup = _frame_of(groups, frames)
    s = VideoBatchSampler(groups, frames, videos=4, frames=4, seed=7)
    assert len(s) == 2  # 7 groups with >= 4 frames, 4 videos per batch
    first = list(s)
    assert first == list(VideoBatchSampler(groups, frames, videos=4, frames=4, seed=7))
    assert first != list(VideoBatchSampler(groups, frames, videos=4, frames=4, seed=8))
    s.set_epoch(1)
    assert list(s) != first
    for batch in first:
        assert len(batch) == 16
        for v in range(4):
            block = [lookup[i] for i in batch[4 * v: 4 * v + 4]]
            assert len({g for g, _ in block}) == 1  # one group per video
            fr = [f for _, f in block]
            assert fr == sorted(fr) and len(set(fr)) == 4
    assert 3 not in {lookup[i][0] for b in first for i in b}  # the 3-frame group cannot give 4 frames
    assert {lookup[i][0] for b in first for i in b} == {0, 1, 2, 4, 5, 6, 7}  # an epoch covers every group


def test_spread_takes_one_frame_per_quarter():
    groups, frames = _groups([100])
    for batch in VideoBatchSampler(groups, frames, videos=1, frames=4, seed=0, batches_per_epoch=50):
        assert [f // 25 for f in batch] == [0, 1, 2, 3]


def test_random_strategy_respects_min_spacing_and_eligibility():
    groups, frames = _groups([30, 13, 12])
    s = VideoBatchSampler(groups, frames, videos=2, frames=4, strategy="random", min_spacing=4, seed=3,
                          batches_per_epoch=40)
    seen = set()
    lookup = _frame_of(groups, frames)
    for batch in s:
        for v in range(2):
            fr = [lookup[i][1] for i in batch[4 * v: 4 * v + 4]]
            seen.add(lookup[batch[4 * v]][0])
            assert np.all(np.diff(fr) >= 4)
    assert seen == {0, 1}  # 12 frames (0..11) cannot hold 4 frames 4 apart (0, 4, 8, 12 needs 13)
    picks = {tuple(pick_spaced(np.arange(13), 4, 4, np.random.default_rng(i))) for i in range(20)}
    assert picks == {(0, 4, 8, 12)}  # the only feasible choice is always found
    with pytest.raises(ValueError, match="no group"):
        VideoBatchSampler(groups, frames, videos=2, frames=4, strategy="random", min_spacing=20)


def test_chains_give_triplets_at_the_stride_even_with_missing_frames():
    holes = {5, 6, 7, 20}
    groups, frames = _groups([30, 30], holes=holes)
    lookup = _frame_of(groups, frames)
    s = VideoBatchSampler(groups, frames, videos=3, frames=4, chain_videos=2, stride=2, seed=1,
                          batches_per_epoch=30)
    for batch in s:
        for v in (1, 2):  # the last two blocks are chains
            block = batch[4 * v: 4 * v + 4]
            fr = [lookup[i][1] for i in block]
            assert np.all(np.diff(fr) == 2) and not set(fr) & holes
        group = [lookup[i][0] for i in batch]
        fidx = [lookup[i][1] for i in batch]
        triplets = find_triplets(group, fidx, max_stride=2).tolist()
        for v in (1, 2):
            assert [4 * v, 4 * v + 1, 4 * v + 2] in triplets or len(set(group)) < 3  # a repeated group merges
        for left, centre, right in triplets:
            assert group[left] == group[centre] == group[right]
            assert fidx[centre] - fidx[left] == fidx[right] - fidx[centre] <= 2
    with pytest.raises(ValueError, match="chain"):
        VideoBatchSampler(*_groups([5]), videos=1, frames=4, chain_videos=1, stride=2)


def test_ranks_split_the_global_batches():
    groups, frames = _groups([20] * 10)
    kwargs = dict(videos=2, frames=3, seed=5, batches_per_epoch=7)
    assert len(VideoBatchSampler(groups, frames, **kwargs)) == 7
    whole = VideoBatchSampler(groups, frames, rank=1, world_size=3, **kwargs).batches(0)
    assert len(whole) == 9  # rounded up to a multiple of world_size
    parts = [list(VideoBatchSampler(groups, frames, rank=r, world_size=3, **kwargs)) for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert [parts[k % 3][k // 3] for k in range(9)] == whole
    with pytest.raises(ValueError, match="rank"):
        VideoBatchSampler(groups, frames, rank=3, world_size=3)


def test_collate_relative_motion_pairs_and_triplets():
    g = torch.Generator().manual_seed(0)
    T = torch.eye(4, dtype=torch.float64).repeat(4, 1, 1)
    T[:, :3, :3] = random_rotations(4, generator=g)
    T[:, :3, 3] = torch.randn(4, 3, generator=g, dtype=torch.float64) * 5
    rel = relative_motion(T)
    X = torch.tensor([0.1, -0.2, 0.7, 1.0], dtype=torch.float64)
    for a in range(4):
        for b in range(4):  # a point in camera a, expressed in camera b, agrees with going through the map
            np.testing.assert_allclose((rel[b, a] @ X).numpy(), (torch.linalg.inv(T[b]) @ (T[a] @ X)).numpy(),
                                       atol=1e-12)
    items = [{"rgb": torch.zeros(3, 8, 8), "T_map_cam": T[i], "group": torch.tensor(gr), "index": torch.tensor(ix),
              "frame_index": torch.tensor(fr), "instance_key": f"k{gr}"}
             for i, (gr, ix, fr) in enumerate([(0, 10, 2), (0, 11, 5), (1, 20, 0), (0, 12, 8)])]
    batch = TrajectoryCollate(max_triplet_stride=3)(items)
    assert batch["T_BA"].shape == (4, 4, 4, 4) and batch["T_BA"].dtype == torch.float32
    assert sorted(map(tuple, batch["pairs"].tolist())) == [(0, 1), (0, 3), (1, 0), (1, 3), (3, 0), (3, 1)]
    assert batch["triplets"].tolist() == [[0, 1, 3]]
    assert TrajectoryCollate(max_triplet_stride=2)(items)["triplets"].shape == (0, 3)
    assert batch["instance_key"] == ["k0", "k0", "k1", "k0"]


def test_optional_chains_are_dropped_when_no_group_has_one():
    groups, frames = [[0, 1, 2], [3, 4, 5]], [[0, 1, 2], [0, 1, 2]]  # no chain of 3 frames at stride 2
    with pytest.raises(ValueError, match="no group has a chain"):
        VideoBatchSampler(groups, frames, videos=2, frames=3, chain_videos=1, stride=2)
    s = VideoBatchSampler(groups, frames, videos=2, frames=3, chain_videos=1, stride=2, chains_optional=True)
    assert s.chains_dropped and s.chain_videos == 0
    assert all(len(b) == 6 for b in s.batches(0))
    kept = VideoBatchSampler(groups, frames, videos=2, frames=3, chain_videos=1, stride=1, chains_optional=True)
    assert not kept.chains_dropped and kept.chain_videos == 1
