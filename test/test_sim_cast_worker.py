"""The ray-cast worker process: the same hits as the in-process cast, and a worker that fails loses nothing."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest

from selfpose_ros.sim import cast_worker
from selfpose_ros.sim.cast_worker import CastWorker
from selfpose_ros.sim.realism import realism_preset
from selfpose_ros.sim.scene import SceneConfig
from selfpose_ros.sim.simulator import SimConfig, SimScene

pytestmark = pytest.mark.skipif(not cast_worker.available(), reason="needs os.memfd_create and two cores")

HIT_FIELDS = ("depth", "geometry", "primitive", "uv", "face_normal", "directions", "origin")
FRAME_FIELDS = ("rgb", "depth_m", "depth_mm", "depth_true_m", "segmentation", "segmentation_true")


@pytest.fixture(scope="module")
def sim() -> SimScene:
    config = SimConfig(width=96, height=72, num_frames=8, realism=realism_preset("default"),
                       scene=SceneConfig(min_objects=3, max_objects=3))
    return SimScene(config, seed=5)


def _wait_ready(worker: CastWorker, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not worker.ready:
        assert worker.failed is None, worker.failed
        assert time.monotonic() - t0 < timeout, "the worker did not start"
        time.sleep(0.05)


def test_worker_hits_are_bit_identical_to_the_cast_in_this_process(sim):
    with CastWorker(sim.raycaster) as worker:
        _wait_ready(worker)
        for i in (0, 1, 2, 7):  # four casts through the two slots, in order
            worker.submit(i, sim.T_map_optical[i])
            got = worker.take(i)
            want = sim.raycaster.cast(sim.T_map_optical[i])
            for name in HIT_FIELDS:
                a, b = getattr(got, name), getattr(want, name)
                assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name
            seen = sim.raycaster.object_index(got)
            assert (seen >= 0).any() and (seen == -1).any()  # objects and the room around them


def test_frames_cast_ahead_give_the_frames_of_render(sim):
    frames = []
    for frame in sim.frames(ahead=True):
        frames.append(frame)
        if sim.frames_cast_ahead == 0:
            time.sleep(1.0)  # a slow consumer (a bag writer, say) while the worker starts (~1.5 s)
    assert sim.frames_cast_ahead >= 2, "the worker never took over"
    for frame in frames:
        want = sim.render(frame.index)
        for name in FRAME_FIELDS:
            assert np.array_equal(getattr(frame, name), getattr(want, name), equal_nan=True), (frame.index, name)
        assert [o.visibility for o in frame.objects] == [o.visibility for o in want.objects]


def test_a_worker_that_dies_is_reported_and_the_caller_casts_itself(sim, caplog):
    worker = CastWorker(sim.raycaster)
    _wait_ready(worker)
    worker.submit(3, sim.T_map_optical[3])
    worker._process.kill()  # noqa: SLF001 - the crash under test
    with caplog.at_level(logging.WARNING, logger="selfpose_ros.sim.cast_worker"):
        assert worker.take(3) is None
    assert worker.failed and "casting in this process instead" in caplog.text
    assert not worker.ready and not worker.holds(4)
    worker.close()  # a second close is harmless


def test_closing_a_starting_worker_does_not_wait_for_its_imports(sim):
    worker = CastWorker(sim.raycaster)
    # its own session: a terminal's Ctrl-C reaches the caller only, which then closes the worker
    assert os.getpgid(worker._process.pid) != os.getpgid(0)  # noqa: SLF001
    t0 = time.monotonic()
    worker.close()
    assert time.monotonic() - t0 < 1.0  # the imports alone take about a second
    assert not worker.ready


def test_short_sequences_cast_in_process(sim):
    frames = list(sim.frames())  # 8 frames of 96x72: far fewer rays than AHEAD_MIN_RAYS, no worker is started
    assert len(frames) == 8 and sim.frames_cast_ahead == 0
