"""Ground-truth handle visibility of the mugs of a bag, for the NOCS convention in the evaluator.

For each ground-truth mug of each frame, ``shapes.handle.handle_visible`` runs on the frame's own depth and the
instance's segmentation with the ground-truth pose and size: the same test the training pseudo-labels use.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from selfpose_ros.conventions import HANDLE_CATEGORIES, encode_label
from selfpose_ros.data.bag_reader import BagTopics, read_rgbd_frames
from selfpose_ros.data.stamps import ns_to_sec_nanosec
from selfpose_ros.eval.io_jsonl import ObjectRecord
from selfpose_ros.shapes.handle import handle_visible


def annotate_handle_visibility(bag: str | Path, gts: list[ObjectRecord], topics: BagTopics | None = None
                               ) -> list[ObjectRecord]:
    """``gts`` with ``handle_visible`` set on every mug whose frame is in ``bag`` (others unchanged)."""
    todo: dict[tuple[int, int], list[int]] = {}
    for k, g in enumerate(gts):
        if g.category in HANDLE_CATEGORIES:
            todo.setdefault(g.frame, []).append(k)
    out = list(gts)
    if not todo:
        return out
    for frame, cats in read_rgbd_frames(Path(bag), topics or BagTopics()):
        key = ns_to_sec_nanosec(frame.stamp_ns)
        for k in todo.get(key, []):
            g = gts[k]
            mask = frame.labels == encode_label(g.category, g.instance, cats)
            depth = np.nan_to_num(frame.depth, nan=0.0)
            seen = bool(mask.any()) and handle_visible(g.R, g.t, g.size, depth, mask, frame.K)
            out[k] = dataclasses.replace(g, handle_visible=seen)
    return out
