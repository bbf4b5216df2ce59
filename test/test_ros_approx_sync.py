"""Approximate-time synchronisation core: message_filters semantics (strict ``< slop`` spread), without DDS.

The property tests feed random arrival orders (late, old, duplicate and far-off stamps) and check that the
fallback never raises and only emits sound sets. Where message_filters imports (a real ROS 2 install), the
fallback must emit exactly the sets message_filters emits for the same input.
"""

import random
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfpose_ros.ros.approx_sync import ApproximateTimeSynchronizer

MS = 1_000_000


class Recorder:
    def __init__(self):
        self.sets = []

    def __call__(self, *msgs):
        self.sets.append(msgs)


def test_exact_stamps_match_in_any_arrival_order():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(3, queue_size=10, slop=0.001, callback=rec)
    sync.add(2, 100 * MS, "c")
    sync.add(0, 100 * MS, "a")
    assert rec.sets == []
    sync.add(1, 100 * MS, "b")
    assert rec.sets == [("a", "b", "c")]
    assert list(sync.pending()) == [0, 0, 0]


def test_zero_slop_never_matches_as_in_message_filters():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=10, slop=0.0, callback=rec)
    sync.add(0, 100 * MS, "a")
    sync.add(1, 100 * MS, "b")  # spread 0 is not < slop 0
    assert rec.sets == []
    assert list(sync.pending()) == [1, 1]


def test_a_spread_equal_to_slop_does_not_match():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=10, slop=0.01, callback=rec)
    sync.add(0, 0, "a0")
    sync.add(1, 10 * MS, "b10")  # candidate (|delta| <= slop) but spread 10 ms is not < 10 ms
    assert rec.sets == []
    sync.add(0, 11 * MS, "a11")
    assert rec.sets == [("a11", "b10")]


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
    sync = ApproximateTimeSynchronizer(2, queue_size=2, slop=0.0005, callback=rec)
    for k in range(3):
        sync.add(0, k * MS, f"a{k}")
    assert list(sync.pending()) == [2, 0]
    sync.add(1, 0, "b0")  # a0 was dropped from the queue
    assert rec.sets == []
    sync.add(1, 2 * MS, "b2")
    assert rec.sets == [("a2", "b2")]


def test_a_message_older_than_its_full_queue_is_dropped_without_error():
    """The crash of issue 10: the old message was evicted on arrival, then popped again (KeyError)."""
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=2, slop=0.01, callback=rec)
    sync.add(1, 5 * MS, "b5")
    sync.add(0, 100 * MS, "a100")
    sync.add(0, 200 * MS, "a200")
    assert sync.add(0, 5 * MS, "a5_late") is False  # would pair with b5, but it is gone on arrival
    assert rec.sets == []
    assert list(sync.pending()) == [2, 1]


def test_a_late_message_still_in_the_queue_matches():
    rec = Recorder()
    sync = ApproximateTimeSynchronizer(2, queue_size=5, slop=0.01, callback=rec)
    for k in (3, 4, 5):
        sync.add(0, k * 100 * MS, f"a{k}")
    sync.add(1, 300 * MS + 2 * MS, "b3_late")
    assert rec.sets == [("a3", "b3_late")]


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


def random_arrivals(rng: random.Random) -> tuple[int, int, int, list[tuple[int, int]]]:
    """Return (streams, queue_size, slop_ms, [(stream, stamp_ms)]): frames with jitter, reordered, with
    late, old, duplicate and far-off stamps."""
    n, queue_size, slop_ms = rng.randint(2, 4), rng.randint(1, 6), rng.choice([0, 1, 2, 5, 10, 20])
    events = []
    for k in range(rng.randint(3, 25)):
        for i in range(n):
            if rng.random() < 0.85:  # some messages never come
                events.append((i, 30 * k + rng.choice([0, 0, 0, -5, 5, rng.randint(-15, 15)])))
    for _ in range(rng.randint(0, 6)):  # old, duplicate or far-off stragglers
        events.append((rng.randrange(n), rng.choice([0, rng.randint(-50, 900), events[0][1] if events else 0])))
    for _ in range(len(events) // 3):  # late arrivals: local reordering
        j = rng.randrange(len(events))
        k = min(len(events) - 1, j + rng.randint(1, 3 * n))
        events[j], events[k] = events[k], events[j]
    if rng.random() < 0.3:
        rng.shuffle(events)
    return n, queue_size, slop_ms, events


def run_fallback(n, queue_size, slop_ms, events):
    """Feed ``events`` to the fallback; return the emitted sets as tuples of event indices."""
    out = []
    sync = ApproximateTimeSynchronizer(n, queue_size, slop_ms / 1000.0, lambda *m: out.append(tuple(m)))
    for k, (stream, stamp_ms) in enumerate(events):
        sync.add(stream, stamp_ms * MS + 10**12, k)  # offset keeps stamps positive (rclpy.Time rejects < 0)
        assert all(p <= queue_size for p in sync.pending())
    return out, sync


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fallback_never_raises_and_emits_only_sound_sets(seed):
    n, queue_size, slop_ms, events = random_arrivals(random.Random(seed))
    sets, sync = run_fallback(n, queue_size, slop_ms, events)
    emitted = [k for s in sets for k in s]
    assert len(emitted) == len(set(emitted)), "a message was emitted twice"
    for s in sets:
        assert [events[k][0] for k in s] == list(range(n)), "one message per stream, in stream order"
        stamps = [events[k][1] for k in s]
        assert max(stamps) - min(stamps) < slop_ms, f"spread {max(stamps) - min(stamps)} ms >= slop {slop_ms} ms"
    if slop_ms == 0:
        assert sets == []
    else:  # it never wedges: a fresh, newest set arriving in any order is emitted whole
        fresh_ns = 10**12 + 10**6 * MS  # far beyond every stamp above
        order = list(range(n))
        random.Random(seed).shuffle(order)
        got = []
        sync._callback = lambda *m: got.append(m)
        for i in order:
            sync.add(i, fresh_ns, ("fresh", i))
        assert got == [tuple(("fresh", i) for i in range(n))]


def test_fallback_emits_exactly_the_sets_of_message_filters():
    """3,000 random input sequences through both; skipped where message_filters is not installed."""
    message_filters = pytest.importorskip("message_filters", reason="message_filters is not on PyPI")
    from builtin_interfaces.msg import Time

    def reference(n, queue_size, slop_ms, events):
        out = []
        inputs = [message_filters.SimpleFilter() for _ in range(n)]
        sync = message_filters.ApproximateTimeSynchronizer(inputs, queue_size, slop_ms / 1000.0)
        sync.registerCallback(lambda *m: out.append(tuple(x.index for x in m)))
        for k, (stream, stamp_ms) in enumerate(events):
            sec, nsec = divmod(stamp_ms * MS + 10**12, 10**9)
            inputs[stream].signalMessage(
                SimpleNamespace(header=SimpleNamespace(stamp=Time(sec=sec, nanosec=nsec)), index=k)
            )
        return out

    rng = random.Random(2024)
    differ = []
    for case in range(3000):
        args = random_arrivals(rng)
        ours, _ = run_fallback(*args)
        if ours != reference(*args):
            differ.append(case)
    assert not differ, f"{len(differ)} of 3000 sequences gave different sets, first: case {differ[0]}"
