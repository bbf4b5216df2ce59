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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from selfpose_ros.data.bag_reader import BagTopics, read_rgbd_frames
from selfpose_ros.inference.backends import make_estimator
from selfpose_ros.inference.estimator import SolverOptions
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
    live = {t.name: t for t in pipeline.fusion.tracks}  # the pipeline fuses: its config has the fusion frame
    out = {}
    for key, names in joined.items():
        for name, _ in names.most_common():
            box = _box(live[name]) if name in live else None
            if box is not None:
                out[key] = box
                break
    return out


def fused_boxes(dataset, estimator: str = "prior_fit", fusion: FusionConfig | None = None,
                progress: Callable[[Iterable], Iterable] | None = None, workers: int = 1) -> dict[int, WorldBox]:
    """{group index of ``dataset`` (a TrajectoryDataset): the world box of its fused track}; groups whose
    instance no track fused are absent. ``estimator``: the per-frame back-end (``prior_fit``, or a checkpoint,
    with the node's default options); ``fusion``: the fusion settings (default: the node's); ``workers``: bags
    labelled at once (processes)."""
    fusion = replace(fusion or FusionConfig(), frame=_WORLD)
    frames: list[dict] = [{} for _ in dataset.bags]  # per bag: stamp -> (segment, T_map_cam)
    labels: list[dict] = [defaultdict(dict) for _ in dataset.bags]  # per bag: stamp -> {(category, instance): label}
    for f in dataset.frames:
        frames[f.bag][f.stamp_ns] = (f.segment, f.T_map_cam)
    for c in dataset.crops:
        f = dataset.frames[c.frame]
        labels[f.bag][f.stamp_ns][(c.category, c.instance)] = c.label
    jobs = [_BagJob(path, frames[b], dict(labels[b]), tuple(dataset.categories), dataset.topics,
                    dataset.label_categories_arg, dataset.min_mask_pixels, estimator, fusion)
            for b, path in enumerate(dataset.bags)]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            results = list(progress(pool.map(bag_boxes, jobs)) if progress else pool.map(bag_boxes, jobs))
    else:
        results = [bag_boxes(job) for job in (progress(jobs) if progress else jobs)]
    group_of = {key: g for g, key in enumerate(dataset.group_keys)}
    out: dict[int, WorldBox] = {}
    for b, boxes in enumerate(results):
        for (segment, label), box in boxes.items():
            g = group_of.get((b, segment, label))
            if g is not None:
                out[g] = box
    return out


@dataclass(frozen=True)
class _BagJob:
    """What labelling one bag needs (picklable: a worker process gets it)."""

    path: Path
    frames: dict[int, tuple[int, np.ndarray]]  # stamp -> (segment, T_map_cam) of the dataset's frames
    labels: dict[int, dict[tuple, int]]  # stamp -> {(category, instance): panoptic label} of the dataset's crops
    categories: tuple[str, ...]
    topics: BagTopics
    label_categories: Sequence[str] | None
    min_mask_pixels: int
    estimator: str
    fusion: FusionConfig


def bag_boxes(job: _BagJob) -> dict[tuple[int, int], WorldBox]:
    """{(segment, label): fused world box} of one bag: the frame pipeline with fusion, one per segment."""
    estimator = make_estimator(job.estimator, list(job.categories), SolverOptions())
    out: dict[tuple[int, int], WorldBox] = {}
    pipeline, segment, joined, labels = None, None, defaultdict(Counter), {}
    pose = {"T": np.eye(4)}
    for frame, cats in read_rgbd_frames(job.path, job.topics, None, job.label_categories):
        known = job.frames.get(frame.stamp_ns)
        if known is None:  # a frame the dataset left out (no camera pose, say)
            continue
        if known[0] != segment:
            if pipeline is not None:
                out.update(_keyed(_segment_boxes(pipeline, joined), labels, segment))
            config = PipelineConfig(cats, list(job.categories), job.min_mask_pixels, fusion=job.fusion)
            pipeline = FramePipeline(estimator, config, tf_lookup=lambda target, source, stamp: pose["T"])
            segment, joined, labels = known[0], defaultdict(Counter), {}
        pose["T"] = known[1]
        frame.up = known[1][:3, :3].T @ np.array([0.0, 0.0, 1.0])  # the world's +Z in the camera
        result = pipeline.process(frame)
        for est, name in zip(result.estimates, result.track_ids):
            joined[(est.category, est.instance)][name] += 1
        labels.update(job.labels.get(frame.stamp_ns, {}))
    if pipeline is not None:
        out.update(_keyed(_segment_boxes(pipeline, joined), labels, segment))
    return out


def _keyed(boxes: dict[tuple, WorldBox], labels: dict[tuple, int], segment: int) -> dict[tuple[int, int], WorldBox]:
    """A segment's boxes keyed (segment, panoptic label)."""
    return {(segment, labels[key]): box for key, box in boxes.items() if key in labels}
