"""The frame pipeline: one RGBDFrame in, the published estimates and every skip reason out.

pose_estimator (live, over DDS) and ``selfpose predict`` (offline, from a bag) both run frames through
:class:`FramePipeline`, so the numbers measured offline are the node's numbers. The stages, each timed:

1. ``instances``: decode the segmenter's values with the label map (``data/label_map.py``; values it does
   not know are reported), then split the segmentation into instances of the active categories (small
   masks and labels outside the category list are skipped with a reason);
2. ``estimate``: the back-end estimates every instance of the frame in one batched call (its own stages,
   e.g. ``model`` and ``solve``, are added to the timer);
3. the confidence filter: estimates below ``min_confidence`` are skipped with a reason;
4. ``track``: association and SE(3) smoothing across frames (off: estimates pass through unchanged);
   or, with a fusion frame set, ``fuse``: world-frame tracks whose fused multi-view cloud is refitted
   (``inference/fusion.py``), through the camera pose the ``tf_lookup`` callback returns at the image stamp
   (the node's TF listener, or the bag's TF offline). A frame whose camera pose is unknown publishes its
   per-frame estimates, unfused, and says why in ``FrameResult.fusion_error``.

With an ego-bias frame set, the kept estimates first pass ``ego_bias``: each object's along-ray offset, fitted
to the views the camera trajectory gave of it, is taken out (``inference/ego_bias.py``; camera poses through the
same ``tf_lookup``; a frame without one passes unchanged, with ``FrameResult.ego_bias_error`` saying why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.instances import Skip, extract_instances
from selfpose_ros.data.label_map import LabelMap
from selfpose_ros.inference.ego_bias import EgoBiasConfig, EgoMotionBias
from selfpose_ros.inference.estimator import Estimator
from selfpose_ros.inference.fusion_track import FusionConfig
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
    fusion: FusionConfig = field(default_factory=FusionConfig)  #: off unless its frame is set (replaces tracking)
    ego_bias: EgoBiasConfig = field(default_factory=EgoBiasConfig)  #: off unless its frame is set


#: ``tf_lookup(target_frame, source_frame, stamp_ns)`` -> T_target_source (4, 4); raises LookupError or ValueError.
TfLookup = Callable[[str, str, int], np.ndarray]


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
    per_frame: list[ObjectPoseEstimate] = field(default_factory=list)  #: the back-end's, before tracking/fusion
    fusion_error: str | None = None  #: why this frame was not fused (its camera pose could not be looked up)
    ego_bias_error: str | None = None  #: why this frame's estimates were not debiased (no camera pose)

    @property
    def up_source(self) -> str | None:
        """Where the frame's up direction came from: 'tf', 'support_plane' or 'none'; None without an estimate."""
        return next((e.extras["up_source"] for e in self.per_frame if "up_source" in e.extras), None)


class FramePipeline:
    """instances -> batched estimator -> confidence filter -> tracking, with per-stage timings."""

    def __init__(self, estimator: Estimator, config: PipelineConfig, timer: StageTimer | None = None,
                 tf_lookup: TfLookup | None = None) -> None:
        self.estimator = estimator
        self.config = config
        self.timer = timer or StageTimer()
        self.tracker = PoseTracker(config.tracking)
        self.fusion = None
        if config.fusion.enabled:
            from selfpose_ros.inference.fusion import MultiViewFusion  # Open3D and trimesh: only when fusing

            self.fusion = MultiViewFusion(config.fusion)
        if self.fusion is not None and tf_lookup is None:
            raise ValueError(f"fusion in frame {config.fusion.frame!r} needs a tf_lookup for the camera poses")
        self.ego_bias = EgoMotionBias(config.ego_bias) if config.ego_bias.enabled else None
        if self.ego_bias is not None and tf_lookup is None:
            raise ValueError(f"ego-motion debiasing in frame {config.ego_bias.frame!r} needs a tf_lookup")
        self.tf_lookup = tf_lookup
        self._pose_memo: tuple = (None, None, "")  # (target, frame id, stamp), pose or None, why not

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
        bias_error = None
        if self.ego_bias is not None and kept:
            kept, bias_error = self._debias(frame, kept)
        if self.fusion is not None:
            result = self._fuse(frame, kept, masks, skipped, len(instances), unknown)
        else:
            with self.timer.time("track"):
                tracked = self.tracker.update(kept, frame.stamp_ns)
            result = FrameResult(frame, [e for e, _ in tracked], masks, [i for _, i in tracked], skipped,
                                 len(instances), unknown, kept)
        result.ego_bias_error = bias_error
        return result

    def _camera_pose(self, frame: RGBDFrame, target: str) -> tuple[np.ndarray | None, str]:
        """(T_target_camera at the image stamp, or None and why). Looked up once per frame and target: fusion and
        debiasing in one frame share it, and a missing pose is waited for once."""
        key = (target, frame.frame_id, frame.stamp_ns)
        if self._pose_memo[0] != key:
            try:
                self._pose_memo = (key, self.tf_lookup(target, frame.frame_id, frame.stamp_ns), "")
            except (LookupError, ValueError) as exc:  # the text holds no stamp, so that warnings about it throttle
                self._pose_memo = (key, None, f"no camera pose {target} <- {frame.frame_id} from TF "
                                              f"({type(exc).__name__})")
        return self._pose_memo[1], self._pose_memo[2]

    def _debias(self, frame: RGBDFrame, kept: list[ObjectPoseEstimate]) -> tuple[list[ObjectPoseEstimate], str | None]:
        """The ego-bias stage: camera pose at the image stamp, then every estimate's along-ray offset removed."""
        T_world_cam, why = self._camera_pose(frame, self.config.ego_bias.frame)
        if T_world_cam is None:
            return kept, f"{why}; not debiased"
        with self.timer.time("ego_bias"):
            return self.ego_bias.update(kept, T_world_cam, frame.stamp_ns), None

    def _fuse(self, frame: RGBDFrame, kept: list[ObjectPoseEstimate], masks: list[np.ndarray], skipped: list[Skip],
              instances: int, unknown: list[int]) -> FrameResult:
        """The fusion stage: camera pose at the image stamp, then the world-frame tracks."""
        T_world_cam, why = self._camera_pose(frame, self.config.fusion.frame)
        if T_world_cam is None:
            return FrameResult(frame, kept, masks, [e.frame_name for e in kept], skipped, instances, unknown, kept,
                               f"{why}; not fused")
        with self.timer.time("fuse"):
            fused = self.fusion.update(frame, T_world_cam, kept, masks) if kept else []
        return FrameResult(frame, [e for e, _ in fused], masks, [i for _, i in fused], skipped, instances, unknown,
                           kept)
