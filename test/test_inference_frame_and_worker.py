"""Frame checks, depth conversion, instance extraction and the drop-while-busy worker."""

import threading
import time

import numpy as np
import pytest

from selfpose_ros.conventions import CATEGORIES, encode_label
from selfpose_ros.data.frame import FrameError, RGBDFrame, check_frame, depth_to_metres
from selfpose_ros.data.instances import extract_instances
from selfpose_ros.inference.latest_worker import LatestWorker

K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


def _frame(h=48, w=64):
    return RGBDFrame(np.zeros((h, w, 3), np.uint8), np.ones((h, w), np.float32), np.zeros((h, w), np.int32), K)


def test_valid_frame_passes():
    check_frame(_frame())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: setattr(f, "depth", np.ones((10, 10), np.float32)), "depth image is 10x10 but colour is 64x48"),
        (lambda f: setattr(f, "labels", np.zeros((48, 63), np.int32)), "segmentation image is 63x48"),
        (lambda f: setattr(f, "rgb", np.zeros((48, 64), np.uint8)), "colour image must be"),
        (lambda f: setattr(f, "labels", np.zeros((48, 64), np.float32)), "integer labels"),
        (lambda f: setattr(f, "K", np.zeros((3, 3))), "non-positive focal"),
        (lambda f: setattr(f, "K", np.full((3, 3), np.nan)), "K must be finite"),
        (lambda f: setattr(f, "K", K[:2]), "3x3 matrix"),
    ],
)
def test_bad_frames_name_the_problem(mutate, message):
    f = _frame()
    mutate(f)
    with pytest.raises(FrameError, match=message):
        check_frame(f)


def test_depth_conversion_marks_missing_readings():
    mm = np.array([[0, 1000], [2500, 65535]], np.uint16)
    np.testing.assert_allclose(depth_to_metres(mm, "16UC1"), [[np.nan, 1.0], [2.5, 65.535]], equal_nan=True)
    m = np.array([[np.nan, 0.0], [np.inf, 1.25]], np.float32)
    np.testing.assert_allclose(depth_to_metres(m, "32FC1"), [[np.nan, np.nan], [np.nan, 1.25]], equal_nan=True)
    with pytest.raises(FrameError, match="depth encoding 'rgb8'"):
        depth_to_metres(mm, "rgb8")


def test_instances_skip_unknown_and_small_masks():
    labels = np.zeros((20, 20), np.int32)
    labels[2:8, 3:9] = encode_label("mug", 1)  # 36 px
    labels[10:12, 10:12] = encode_label("bowl", 4)  # 4 px
    labels[15:20, 0:5] = 9001  # category index 9: unknown
    labels[0, 19] = encode_label("laptop", 2)  # not active
    inst, skipped = extract_instances(labels, CATEGORIES, active=["mug", "bowl"], min_pixels=10)
    assert [(i.category, i.instance, i.pixels, i.box) for i in inst] == [("mug", 1, 36, (3, 2, 9, 8))]
    assert any("bowl_4: mask has 4 pixels" in s for s in skipped)
    assert any("label 9001" in s for s in skipped)
    assert len(skipped) == 2


def test_worker_drops_stale_items_and_survives_errors():
    gate = threading.Event()
    seen, errors = [], []

    def handler(item):
        if item == "boom":
            raise RuntimeError("bad frame")
        gate.wait(5)
        seen.append(item)

    w = LatestWorker(handler, on_error=errors.append)
    w.submit(0)
    deadline = time.monotonic() + 5
    while not w.busy and time.monotonic() < deadline:
        time.sleep(0.001)
    for k in range(1, 6):  # 1..4 are replaced before the worker is free: 4 drops
        w.submit(k)
    gate.set()
    assert w.wait_idle(5)
    assert seen == [0, 5]
    assert (w.submitted, w.dropped, w.processed) == (6, 4, 2)
    w.submit("boom")
    assert w.wait_idle(5)
    assert len(errors) == 1 and w.errors == 1
    w.submit(7)
    assert w.wait_idle(5) and seen[-1] == 7
    w.stop()
