"""Pseudo-labels from pose_estimator's own multi-view fusion: each trajectory's fused box, in every frame.

pose_estimator's fusion stage (``inference/fusion.py``) fits the category prior to the object's depth fused over
the camera's motion, then sizes the fused cloud's box and turns a mug to its handle. At ``realism=heavy`` its
fused boxes are right far more often than single views (docs/pose_estimator.md, "Multi-view fusion"). Here the
frame pipeline runs over a training recording exactly as ``selfpose predict --fuse`` does: the depth-only
back-end (``prior_fit``, nothing learnt), camera poses from the recording's TF (the poses the trainer uses), one
pipeline per trajectory segment. At the end of each segment, the box of the track an instance's views joined
(the most often) is its world-frame label; ``train/pseudo_labels.py`` carries it into each frame through the
camera motion. Ground truth is never read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from selfpose_ros.data.bag_reader import read_rgbd_frames
from selfpose_ros.inference.backends import make_estimator
from selfpose_ros.inference.estimator import Estimator, SolverOptions
from selfpose_ros.inference.fusion_track import FusionConfig
from selfpose_ros.inference.pipeline import FramePipeline, PipelineConfig

#: The fusion frame's name inside this module (poses come from the dataset's records, not from a TF tree).
_WORLD = "world"


@dataclass(frozen=True)
class WorldBox:
    """A fused track's box in the world frame: canonical -> world rotation, centre, per-axis size (metres)."""

    R: np.ndarray  # (3, 3)
    centre: np.ndarray  # (3,)
    size: np.ndarray  # (3,)
    quality: float  # the fused fit's inlier ratio times the size policy's confidence factor
    views: int
    span_deg: float


def _box(track) -> WorldBox | None:
    """A fused track's WorldBox, or None when it has no sized fused fit."""
    if not track.fused or track.size is None or track.box_centre is None:
        return None
    return WorldBox(np.array(track.R, np.float64), np.array(track.box_centre, np.float64),
                    np.array(track.size, np.float64), float(track.fit_confidence * track.size_factor),
                    int(track.views), float(track.span_deg))


def _segment_boxes(pipeline: FramePipeline, joined: dict[tuple, Counter]) -> dict[tuple, WorldBox]:
    """{(category, instance): the box of the live track its views joined most often} at a segment's end."""
    live = {t.name: t for t in pipeline.fusion.tracks} if pipeline.fusion is not None else {}
    out = {}
    for key, names in joined.items():
        for name, _ in names.most_common():
            box = _box(live[name]) if name in live else None
            if box is not None:
                out[key] = box
                break
    return out


def fused_boxes(dataset, estimator: Estimator | None = None, fusion: FusionConfig | None = None,
                progress: Callable[[Iterable], Iterable] | None = None) -> dict[int, WorldBox]:
    """{group index of ``dataset`` (a TrajectoryDataset): the world box of its fused track}; groups whose
    instance no track fused are absent. ``estimator``: the per-frame back-end (default: ``prior_fit`` with the
    node's default options); ``fusion``: the fusion settings (default: the node's)."""
    estimator = estimator or make_estimator("prior_fit", list(dataset.categories), SolverOptions())
    fusion = replace(fusion or FusionConfig(), frame=_WORLD)
    records = {(f.bag, f.stamp_ns): f for f in dataset.frames}
    group_of = {key: g for g, key in enumerate(dataset.group_keys)}
    out: dict[int, WorldBox] = {}
    bags = list(enumerate(dataset.bags))
    for b, path in (progress(bags) if progress else bags):
        frames = read_rgbd_frames(path, dataset.topics, None, dataset.label_categories_arg)
        pipeline, segment, joined, labels = None, None, defaultdict(Counter), {}
        for frame, cats in frames:
            record = records.get((b, frame.stamp_ns))
            if record is None:  # a frame the dataset left out (no camera pose, say)
                continue
            if record.segment != segment:
                out.update(_keyed(_segment_boxes(pipeline, joined), labels, b, segment, group_of) if pipeline else {})
                pose = {"T": record.T_map_cam}
                config = PipelineConfig(cats, list(dataset.categories), dataset.min_mask_pixels, fusion=fusion)
                pipeline = FramePipeline(estimator, config, tf_lookup=lambda target, source, stamp, p=pose: p["T"])
                segment, joined, labels = record.segment, defaultdict(Counter), {}
            pose["T"] = record.T_map_cam
            frame.up = record.T_map_cam[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # the world's +Z in the camera
            result = pipeline.process(frame)
            for est, name in zip(result.estimates, result.track_ids):
                joined[(est.category, est.instance)][name] += 1
            labels.update({(c.category, c.instance): c.label for c in _crops_of(dataset, b, frame.stamp_ns)})
        if pipeline is not None:
            out.update(_keyed(_segment_boxes(pipeline, joined), labels, b, segment, group_of))
    return out


def _crops_of(dataset, bag: int, stamp_ns: int) -> list:
    """The dataset's crops of one frame."""
    index = dataset.crops_by_frame()
    return [dataset.crops[i] for i in index.get((bag, stamp_ns), ())]


def _keyed(boxes: dict[tuple, WorldBox], labels: dict[tuple, int], bag: int, segment: int,
           group_of: dict[tuple, int]) -> dict[int, WorldBox]:
    """The segment's boxes by dataset group index ((bag, segment, label) keys)."""
    out = {}
    for key, box in boxes.items():
        g = group_of.get((bag, segment, labels.get(key)))
        if g is not None:
            out[g] = box
    return out
