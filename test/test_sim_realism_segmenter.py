"""Segmenter errors: bleeding, erosion, jagged edges, holes, blobs, occluder cuts, splits and merges."""

from __future__ import annotations

import numpy as np
import pytest

from selfpose_ros.conventions import decode_label, encode_label
from selfpose_ros.sim.realism import SegmenterNoise, realism_preset
from selfpose_ros.sim.segmenter import (
    SPLIT_OFFSET,
    InstanceSeverity,
    bleed,
    cut_by_occluder,
    degrade_segmentation,
    draw_severities,
    erode,
    instance_boxes,
    punch_holes,
    split_line,
)

MUG, BOWL = encode_label("mug", 1), encode_label("bowl", 1)


def two_objects() -> tuple[np.ndarray, np.ndarray]:
    """A mug (near, 0.6 m) touching a bowl (far, 0.9 m) on a background 1.2 m away."""
    labels = np.zeros((120, 160), np.int32)
    yy, xx = np.mgrid[:120, :160]
    labels[(yy - 60) ** 2 + (xx - 60) ** 2 < 25**2] = BOWL
    labels[(yy - 60) ** 2 + (xx - 95) ** 2 < 15**2] = MUG
    depth = np.full(labels.shape, 1.2, np.float32)
    depth[labels == BOWL], depth[labels == MUG] = 0.9, 0.6
    return labels, depth


def test_bleeding_adds_background_and_never_removes_object_pixels() -> None:
    labels, depth = two_objects()
    config = SegmenterNoise(bleed_px=(6.0, 6.0), bleed_fraction=1.0, jag_px=1.5)
    severities = {BOWL: InstanceSeverity(True, 6.0), MUG: InstanceSeverity(True, 6.0)}
    out = degrade_segmentation(labels, depth, severities, config, np.random.default_rng(0))
    for lab in (MUG, BOWL):
        added = (out == lab) & (labels != lab)
        assert added.sum() > 200
    # The near mug keeps every pixel and takes background and far-bowl pixels; the bowl only takes background.
    assert np.all(out[labels == MUG] == MUG)
    assert np.all(labels[(out == BOWL) & (labels != BOWL)] == 0)
    assert np.any((out == MUG) & (labels == BOWL))
    mask = labels == MUG
    grown = bleed(mask, np.full(mask.shape, 4.0, np.float32), np.ones_like(mask))
    assert np.all(grown[mask]) and 0 < (grown & ~mask).sum() < 2 * np.pi * 19 * 4.5  # a ring about 4 px wide


def test_erosion_jag_holes_and_cuts_only_remove() -> None:
    labels, _ = two_objects()
    mask = labels == BOWL
    eroded = erode(mask, np.full(mask.shape, 3.0, np.float32))
    assert not np.any(eroded & ~mask) and 0.6 * mask.sum() < eroded.sum() < 0.9 * mask.sum()
    holed = punch_holes(mask, 3, (3.0, 5.0), np.random.default_rng(1))
    assert not np.any(holed & ~mask) and holed.sum() < mask.sum()
    cut = cut_by_occluder(mask, 0.3, np.random.default_rng(2))
    assert not np.any(cut & ~mask) and abs(1 - cut.sum() / mask.sum() - 0.3) < 0.03
    part = split_line(mask, np.random.default_rng(3))
    assert not np.any(part & ~mask) and 0.3 < part.sum() / mask.sum() < 0.7


def test_spurious_blobs_split_and_merge() -> None:
    labels, depth = two_objects()
    sev = {BOWL: InstanceSeverity(False, 0.0), MUG: InstanceSeverity(False, 0.0)}
    blobs = degrade_segmentation(labels, depth, sev, SegmenterNoise(spurious_blobs=3.0), np.random.default_rng(4))
    extra = blobs != labels
    assert extra.any() and np.all(labels[extra] == 0)  # blobs land on background only
    split = degrade_segmentation(labels, depth, sev, SegmenterNoise(split=1.0), np.random.default_rng(5))
    for lab in (MUG, BOWL):
        cat, inst = decode_label(lab)
        part = split == lab + SPLIT_OFFSET
        assert decode_label(lab + SPLIT_OFFSET) == (cat, inst + SPLIT_OFFSET)
        assert 0.2 < part.sum() / (labels == lab).sum() < 0.8 and np.all(labels[part] == lab)
    merged = degrade_segmentation(labels, depth, sev, SegmenterNoise(merge=1.0), np.random.default_rng(6))
    assert len(set(np.unique(merged)) - {0}) == 1 and np.array_equal(merged > 0, labels > 0)


def test_segmenter_is_seeded_and_leaves_unknown_labels_alone() -> None:
    labels, depth = two_objects()
    config = realism_preset("heavy").segmenter
    sev = draw_severities([MUG, BOWL], config, np.random.default_rng(7))
    assert sev == draw_severities([MUG, BOWL], config, np.random.default_rng(7))
    a = degrade_segmentation(labels, depth, sev, config, np.random.default_rng(8))
    b = degrade_segmentation(labels, depth, sev, config, np.random.default_rng(8))
    c = degrade_segmentation(labels, depth, sev, config, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, labels)
    untouched = degrade_segmentation(labels, depth, {}, config, np.random.default_rng(8))
    np.testing.assert_array_equal(untouched, labels)
    with pytest.raises(ValueError, match="shape"):
        degrade_segmentation(labels, depth[:10], sev, config, np.random.default_rng(8))
    with pytest.raises(ValueError, match="probability"):
        SegmenterNoise(merge=2.0)


def test_default_masks_stay_close_to_the_truth() -> None:
    """At the default level a mask still mostly covers its object (IoU well above what heavy gives)."""
    labels, depth = two_objects()
    ious = {"default": [], "heavy": []}
    for level in ious:
        config = realism_preset(level).segmenter
        for seed in range(20):
            sev = draw_severities([MUG, BOWL], config, np.random.default_rng(seed))
            out = degrade_segmentation(labels, depth, sev, config, np.random.default_rng(100 + seed))
            for lab in (MUG, BOWL):
                a, b = out == lab, labels == lab
                ious[level].append((a & b).sum() / max((a | b).sum(), 1))
    assert np.median(ious["default"]) > 0.75
    assert np.median(ious["heavy"]) < np.median(ious["default"])


def test_instance_boxes_match_a_direct_computation() -> None:
    labels, depth = two_objects()
    labels[0, 0] = 9999  # a label the segmenter does not know is ignored
    boxes = instance_boxes(labels, depth, [MUG, BOWL, encode_label("can", 3)])
    assert set(boxes) == {MUG, BOWL}
    for lab, (r0, r1, c0, c1, mean_depth) in boxes.items():
        ys, xs = np.nonzero(labels == lab)
        assert (r0, r1, c0, c1) == (ys.min(), ys.max(), xs.min(), xs.max())
        assert mean_depth == pytest.approx(depth[labels == lab].mean())
    assert instance_boxes(np.zeros_like(labels), depth, [MUG]) == {}
