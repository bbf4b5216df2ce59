"""The frame pipeline: one RGBDFrame in, the published estimates and every skip reason out.

pose_estimator (live, over DDS) and ``selfpose predict`` (offline, from a bag) both run frames through
:class:`FramePipeline`, so the numbers measured offline are the node's numbers. The stages, each timed:

1. ``instances``: decode the segmenter's values with the label map (``data/label_map.py``; values it does
   not know are reported), then split the segmentation into instances of the active categories (small
   masks and labels outside the category list are skipped with a reason);
2. ``estimate``: the back-end estimates every instance of the frame in one batched call (its own stages,
   e.g. ``model`` and ``solve``, are added to the timer);
3. the confidence filter: estimates below ``min_confidence`` are skipped with a reason;
4. ``track``: association and SE(3) smoothing across frames (off: estimates pass through unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Skip, extract_instances
from selfpose_ros.data.label_map import LabelMap
from selfpose_ros.inference.estimator import Estimator
from selfpose_ros.inference.stage_timer import StageTimer
from selfpose_ros.inference.tracking import PoseTracker, TrackerConfig
from selfpose_ros.pose_types import ObjectPoseEstimate


@dataclass
class PipelineConfig:
    """What the pipeline keeps: label categories, active categories, mask and confidence floors, tracking."""

    categories: Sequence[str]  #: label category list (label // 1000 - 1 indexes it)
    active_categories: Sequence[str] | None = None  #: categories to estimate (None: all of ``categories``)
    min_mask_pixels: int = 50
    min_confidence: float = 0.0
    tracking: TrackerConfig = field(default_factory=lambda: TrackerConfig(enabled=False))
    #: the segmenter's encoding (None: the package's panoptic ``category_index * 1000 + instance``)
    label_map: LabelMap | None = None


@dataclass
class FrameResult:
    """The outcome of one frame: kept estimates (tracked), their masks and track ids, and the skips."""

    frame: RGBDFrame
    estimates: list[ObjectPoseEstimate]
    masks: list[np.ndarray]
    track_ids: list[str]
    skipped: list[Skip]
    instances: int  #: instances found (before estimation)
    unknown_labels: list[int] = field(default_factory=list)  #: segmentation values the label map does not know


class FramePipeline:
    """instances -> batched estimator -> confidence filter -> tracking, with per-stage timings."""

    def __init__(self, estimator: Estimator, config: PipelineConfig, timer: StageTimer | None = None) -> None:
        self.estimator = estimator
        self.config = config
        self.timer = timer or StageTimer()
        self.tracker = PoseTracker(config.tracking)

    def process(self, frame: RGBDFrame) -> FrameResult:
        """Run every stage on ``frame`` and return what a publisher or a prediction file needs."""
        c = self.config
        with self.timer.time("instances"):
            labels, unknown = (frame.labels, []) if c.label_map is None else c.label_map.to_panoptic(frame.labels)
            instances, skipped = extract_instances(labels, c.categories, c.active_categories, c.min_mask_pixels)
        with self.timer.time("estimate"):
            results = self.estimator.estimate(frame, instances) if instances else []
        for stage, seconds in getattr(self.estimator, "last_timings", {}).items():
            self.timer.add(stage, seconds)
        kept, masks = [], []
        for r in results:
            if r.estimate is None:
                skipped.append(Skip("no_pose", f"{r.instance.category}_{r.instance.instance}: no pose ({r.failure})"))
            elif r.estimate.confidence < c.min_confidence:
                skipped.append(Skip("low_confidence", f"{r.estimate.frame_name}: confidence "
                                    f"{r.estimate.confidence:.2f} < min_confidence {c.min_confidence}"))
            else:
                kept.append(r.estimate)
                masks.append(r.instance.mask)
        with self.timer.time("track"):
            tracked = self.tracker.update(kept, frame.stamp_ns)
        return FrameResult(frame, [e for e, _ in tracked], masks, [i for _, i in tracked], skipped, len(instances),
                           unknown)
