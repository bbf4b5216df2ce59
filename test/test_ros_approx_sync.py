"""Approximate-time synchronisation core: message_filters semantics, without DDS."""

import pytest

from selfpose_ros.ros.approx_sync import ApproximateTimeSynchronizer

MS = 1_000_000


class Recorder:
    def __init__(self):
        self.sets = []

    def __call__(self, *msgs):
        self.sets.append(msgs)


def test_exact_stamps_match_in_any_arrival_order():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(3, queue_size=10, slop=0.0, callback=rec)
    sync.add(2, 100 * MS, "c")
    sync.add(0, 100 * MS, "a")
    assert rec.sets == []
    sync.add(1, 100 * MS, "b")
    assert rec.sets == [("a", "b", "c")]
    assert list(sync.pending()) == [0, 0, 0]


def test_slop_bounds_the_spread_of_a_set():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=10, slop=0.01, callback=rec)
    sync.add(0, 0, "a0")
    sync.add(1, 15 * MS, "b15")  # 15 ms apart > 10 ms slop: no set
    assert rec.sets == []
    sync.add(0, 20 * MS, "a20")  # 5 ms from b15
    assert rec.sets == [("a20", "b15")]
    assert list(sync.pending()) == [1, 0]  # a0 still queued, never matched


def test_nearest_candidate_is_preferred():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=10, slop=0.05, callback=rec)
    sync.add(1, 0, "far")
    sync.add(1, 28 * MS, "near")
    sync.add(0, 30 * MS, "pivot")
    assert rec.sets == [("pivot", "near")]


def test_queue_size_drops_the_oldest():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=2, slop=0.0, callback=rec)
    for k in range(3):
        sync.add(0, k * MS, f"a{k}")
    assert list(sync.pending()) == [2, 0]
    sync.add(1, 0, "b0")  # a0 was dropped from the queue
    assert rec.sets == []
    sync.add(1, 2 * MS, "b2")
    assert rec.sets == [("a2", "b2")]


def test_streams_at_different_rates_pair_up_one_to_one():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=5, slop=0.004, callback=rec)
    for k in range(30):  # stream 0 at 30 Hz, stream 1 at 30 Hz with 3 ms jitter-free lag
        sync.add(0, k * 33 * MS, k)
        sync.add(1, k * 33 * MS + 3 * MS, k)
    assert [a for a, b in rec.sets] == list(range(30))
    assert all(a == b for a, b in rec.sets)


@pytest.mark.parametrize("kwargs", [dict(n=0), dict(queue_size=0), dict(slop=-1.0)])
def test_invalid_configuration_is_rejected(kwargs):
    args = dict(n=2, queue_size=5, slop=0.1, callback=print) | kwargs
    with pytest.raises(ValueError):
        ApproximateTimeSynchronizer(**args)
