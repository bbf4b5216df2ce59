"""Every node's parameters: declared, read and validated in this one place.

Each node has a dataclass: its fields are the ROS parameters (name, type from the default, description in
the field metadata) and its ``validate`` raises ValueError naming each bad value. ``load_params`` declares
them on a node, reads the values (from defaults, ``--params-file`` or ``-p``) and validates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.data.label_map import LabelMap
from selfpose_ros.inference.ego_bias import EgoBiasConfig
from selfpose_ros.inference.estimator import MAX_MASK_REACH_PX, SolverOptions
from selfpose_ros.inference.fusion_track import FusionConfig
from selfpose_ros.recording.keyframes import GateConfig
from selfpose_ros.sim.realism import REALISM_LEVELS

P = TypeVar("P")


def _param(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class PosePublisherParams:
    """Parameters of ``pose_publisher``: publishes a fixed set of object poses (for tests, RViz and demos)."""

    frame_id: str = _param("camera_color_optical_frame", "frame the poses are expressed in")
    rate_hz: float = _param(10.0, "publication rate, Hz")
    tf_prefix: str = _param("", "prefix of each object's TF child frame <prefix><category>_<instance>")
    categories: list[str] = _param(["mug"], "category of each object")
    instances: list[int] = _param([1], "instance id of each object")
    positions: list[float] = _param([0.0, 0.0, 0.5], "x, y, z per object, metres (flattened)")
    orientations: list[float] = _param([0.0, 0.0, 0.0, 1.0], "quaternion x, y, z, w per object (flattened)")
    sizes: list[float] = _param([0.1, 0.1, 0.1], "metric box extents x, y, z per object, metres (flattened)")
    scales: list[float] = _param([0.17], "metres per canonical unit, per object")

    def validate(self) -> None:
        """Raise ValueError listing every inconsistent parameter."""
        errors = []
        n = len(self.categories)
        if not self.frame_id:
            errors.append("frame_id must not be empty")
        if not self.rate_hz > 0:
            errors.append(f"rate_hz must be > 0, got {self.rate_hz}")
        unknown = sorted(set(self.categories) - set(CATEGORIES))
        if unknown:
            errors.append(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        for name, per in (("instances", 1), ("positions", 3), ("orientations", 4), ("sizes", 3), ("scales", 1)):
            got = len(getattr(self, name))
            if got != per * n:
                errors.append(f"{name} has {got} values, expected {per} x {n} objects = {per * n}")
        if not errors:
            q = np.asarray(self.orientations, dtype=float).reshape(n, 4)
            if not np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-3):
                errors.append("orientations must be unit quaternions (x, y, z, w)")
            if np.any(np.asarray(self.sizes) <= 0) or np.any(np.asarray(self.scales) <= 0):
                errors.append("sizes and scales must be > 0")
        if errors:
            raise ValueError("invalid parameters: " + "; ".join(errors))


def load_params(node: Any, cls: type[P]) -> P:
    """Declare the fields of ``cls`` as parameters of ``node``, read and validate them, and return them."""
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        descriptor = ParameterDescriptor(description=f.metadata.get("help", ""))
        values[f.name] = node.declare_parameter(f.name, default, descriptor).value
    params = cls(**values)
    params.validate()
    return params


@dataclass
class PoseEstimatorParams:
    """Parameters of ``pose_estimator`` (config/pose.yaml)."""

    model: str = _param("prior_fit", "'prior_fit' (depth-only baseline), a checkpoint path (models/*.pt), "
                                     "or 'oracle' (ground-truth correspondences, for tests)")
    categories: list[str] = _param(list(CATEGORIES), "label categories, in panoptic index order (index 1..N)")
    active_categories: list[str] = _param(list(CATEGORIES), "categories to estimate; others are ignored")
    label_mode: str = _param("panoptic", "segmentation encoding: 'panoptic' (value = class * 1000 + instance), "
                                         "'instance_ids' (each value one object, its class in label_map) or "
                                         "'semantic' (each value a class, one object per class)")
    label_map: str = _param("", "segmentation class -> category, e.g. '44: bottle, 47: mug' (docs/pose_estimator.md); "
                                "empty with label_mode panoptic: class k is categories[k - 1]")
    min_mask_pixels: int = _param(200, "skip instances whose mask is smaller (pixels)")
    min_inliers: int = _param(30, "a fit with fewer inliers is reported as failed")
    min_confidence: float = _param(0.2, "estimates below this confidence are not published, in [0, 1]")
    ransac_iterations: int = _param(200, "RANSAC hypotheses (upper bound; early exit on confidence)")
    inlier_threshold: float = _param(0.01, "RANSAC inlier distance, metres")
    icp: bool = _param(True, "refine each pose with ICP against the observed depth points")
    device: str = _param("auto", "'cpu', 'cuda:N' or 'auto'")
    sync_slop: float = _param(0.02, "approximate-time sync tolerance, seconds")
    sync_queue: int = _param(10, "approximate-time sync queue size per topic")
    image_qos: str = _param("reliable", "input QoS: 'reliable' (lossless for large images; needs a reliable "
                                        "publisher, the ROS default) or 'sensor_data' (best effort, any publisher)")
    tf_prefix: str = _param("", "prefix of object TF frames: <prefix><category>_<instance>")
    gravity_frame: str = _param("", "TF frame whose +Z points up (REP 103: map, odom, base_link); "
                                    "empty: gravity unknown, no upright snapping")
    upright_snap_deg: float = _param(30.0, "with gravity known, fits within this tilt of upright are snapped "
                                           "upright (objects standing on a surface), degrees; 0: off")
    mask_reach_px: int = _param(SolverOptions.mask_reach_px,
                                "each object's own depth surface grows up to this many pixels beyond its mask, "
                                "through depth-continuous pixels near the object (an eroded mask loses no edge); "
                                "0: the masks bound the surfaces")
    tf_timeout: float = _param(0.5, "how long the worker waits for a frame's gravity TF before it processes the "
                                    "frame without gravity, s")
    tracking: bool = _param(True, "associate objects across frames and smooth their poses on SE(3)")
    smoothing_alpha: float = _param(0.5, "weight of the newest estimate in (0, 1]; 1 = no smoothing")
    track_gate: float = _param(0.10, "association distance between frames, metres")
    max_jump_m: float = _param(0.05, "a larger jump is an outlier until it repeats, metres")
    max_jump_deg: float = _param(30.0, "a larger turn is an outlier until it repeats, degrees")
    fusion_frame: str = _param("", "multi-view fusion: a TF frame static relative to the objects (map, odom); "
                                   "objects become world-frame tracks refitted on their fused cloud; empty: off")
    fusion_voxel_size: float = _param(0.004, "fused clouds are voxel-downsampled to this edge, metres")
    fusion_max_points: int = _param(3000, "most voxels per track's fused cloud (the grid coarsens beyond)")
    fusion_refit_period: int = _param(5, "frames between seeded refits of a track (new coverage refits at once)")
    fusion_motion_threshold: float = _param(0.02, "depth contradicting a fused cloud by more means the object "
                                                  "moved: its track restarts, metres")
    ego_bias_frame: str = _param("", "ego-motion debiasing: a TF frame static relative to the objects (map, odom); "
                                     "each object's offset along the camera rays (depth scale and offset errors, "
                                     "mask bleed) is fitted to the views the camera's motion gave of it and taken "
                                     "out; empty: off")
    ego_bias_prior: float = _param(0.02, "ego-motion debiasing: prior std of the camera-wide along-ray offset "
                                         "(depth scale and offset), metres")
    ego_bias_object_prior: float = _param(0.01, "ego-motion debiasing: prior std of each object's own offset about "
                                                "the camera-wide one (mask bleed), metres")
    publish_fused_cloud: bool = _param(False, "publish every track's fused cloud on 'fused_cloud' (PointCloud2 "
                                              "in fusion_frame)")
    publish_per_frame_objects: bool = _param(False, "with fusion: also publish the back-end's per-frame estimates "
                                                    "on 'objects_per_frame'")
    publish_tf: bool = _param(True, "broadcast one TF frame per object")
    publish_markers: bool = _param(True, "publish a MarkerArray on 'markers'")
    publish_debug_image: bool = _param(True, "publish an overlay image on 'debug_image'")
    warn_period: float = _param(5.0, "seconds between repeats of the same input warning")
    warm_up_objects: int = _param(8, "learned back-ends: at start-up, run the network once per batch of 1..N "
                                     "objects (first-frame latency and memory settle before frames arrive); 0: off")

    def validate(self) -> None:
        """Raise ValueError listing every bad parameter."""
        errors = []
        if not self.model:
            errors.append("model must be 'prior_fit' or a checkpoint path")
        if not 0 <= self.warm_up_objects <= 64:
            errors.append(f"warm_up_objects must be in 0..64, got {self.warm_up_objects}")
        if len(set(self.categories)) != len(self.categories) or not self.categories:
            errors.append(f"categories must be a non-empty list without repeats, got {self.categories}")
        unknown = sorted(set(self.active_categories) - set(self.categories))
        if unknown:
            errors.append(f"active_categories {unknown} are not in categories {self.categories}")
        try:
            self.label_decoder()
        except ValueError as exc:
            errors.append(str(exc))
        if self.min_mask_pixels < 1:
            errors.append(f"min_mask_pixels must be >= 1, got {self.min_mask_pixels}")
        if self.min_inliers < 3:
            errors.append(f"min_inliers must be >= 3, got {self.min_inliers}")
        if not 0.0 <= self.min_confidence <= 1.0:
            errors.append(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.ransac_iterations < 1:
            errors.append(f"ransac_iterations must be >= 1, got {self.ransac_iterations}")
        if not self.inlier_threshold > 0:
            errors.append(f"inlier_threshold must be > 0 metres, got {self.inlier_threshold}")
        if not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            errors.append(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if not self.sync_slop > 0:
            errors.append(f"sync_slop must be > 0 seconds, got {self.sync_slop}")
        if self.sync_queue < 1:
            errors.append(f"sync_queue must be >= 1, got {self.sync_queue}")
        if self.image_qos not in ("reliable", "sensor_data"):
            errors.append(f"image_qos must be 'reliable' or 'sensor_data', got {self.image_qos!r}")
        if not self.warn_period >= 0:
            errors.append(f"warn_period must be >= 0, got {self.warn_period}")
        if not self.tf_timeout >= 0:
            errors.append(f"tf_timeout must be >= 0 seconds, got {self.tf_timeout}")
        if not 0.0 <= self.upright_snap_deg <= 90.0:
            errors.append(f"upright_snap_deg must be in [0, 90], got {self.upright_snap_deg}")
        if not 0 <= self.mask_reach_px <= MAX_MASK_REACH_PX:
            errors.append(f"mask_reach_px must be in [0, {MAX_MASK_REACH_PX}] pixels, got {self.mask_reach_px}")
        if not 0.0 < self.smoothing_alpha <= 1.0:
            errors.append(f"smoothing_alpha must be in (0, 1], got {self.smoothing_alpha}")
        if min(self.track_gate, self.max_jump_m, self.max_jump_deg) <= 0:
            errors.append("track_gate, max_jump_m and max_jump_deg must be > 0")
        errors += self._fusion_errors()
        if errors:
            raise ValueError("invalid parameters: " + "; ".join(errors))

    def _fusion_errors(self) -> list[str]:
        errors = []
        for name in ("fusion_frame", "ego_bias_frame"):
            value = getattr(self, name)
            if value != value.strip() or " " in value:
                errors.append(f"{name} must be a TF frame name without spaces, got {value!r}")
        if not 0.0 < self.fusion_voxel_size <= 0.05:
            errors.append(f"fusion_voxel_size must be in (0, 0.05] metres, got {self.fusion_voxel_size}")
        if not 100 <= self.fusion_max_points <= 100_000:
            errors.append(f"fusion_max_points must be in [100, 100000], got {self.fusion_max_points}")
        if self.fusion_refit_period < 1:
            errors.append(f"fusion_refit_period must be >= 1 frame, got {self.fusion_refit_period}")
        if not 0.0 < self.fusion_motion_threshold <= 0.5:
            errors.append(f"fusion_motion_threshold must be in (0, 0.5] metres, got {self.fusion_motion_threshold}")
        for name in ("ego_bias_prior", "ego_bias_object_prior"):
            if not 0.0 < getattr(self, name) <= 0.2:
                errors.append(f"{name} must be in (0, 0.2] metres, got {getattr(self, name)}")
        return errors

    def fusion_config(self) -> FusionConfig:
        """The fusion stage's settings from the fusion_* parameters (disabled when fusion_frame is empty)."""
        return FusionConfig(frame=self.fusion_frame.lstrip("/"), voxel_size=self.fusion_voxel_size,
                            max_points=self.fusion_max_points, refit_period=self.fusion_refit_period,
                            motion_threshold=self.fusion_motion_threshold, gate=self.track_gate,
                            upright_snap_deg=self.upright_snap_deg)

    def ego_bias_config(self) -> EgoBiasConfig:
        """The ego-motion debiasing settings (disabled when ego_bias_frame is empty)."""
        return EgoBiasConfig(frame=self.ego_bias_frame.lstrip("/"), prior_std=self.ego_bias_prior,
                             object_prior_std=self.ego_bias_object_prior, gate=self.track_gate)

    def label_decoder(self) -> LabelMap:
        """The segmentation decoder of ``label_mode`` / ``label_map`` over ``categories``."""
        return LabelMap.create(self.label_mode, self.label_map, self.categories)


@dataclass
class SimCameraParams:
    """Parameters of ``sim_camera`` (config/sim_camera.yaml): a simulated RGB-D-segmentation camera."""

    seed: int = _param(0, "scene and trajectory seed; each loop of the sequence uses seed + loop index")
    frames: int = _param(150, "frames per simulated sequence")
    rate_hz: float = _param(15.0, "publication rate, Hz (the trajectory's speed assumes this rate)")
    width: int = _param(640, "image width, pixels")
    height: int = _param(480, "image height, pixels")
    hfov_deg: float = _param(69.0, "horizontal field of view, degrees")
    categories: list[str] = _param(list(CATEGORIES), "categories objects are drawn from")
    min_objects: int = _param(1, "fewest objects in a scene")
    max_objects: int = _param(5, "most objects in a scene")
    trajectory: str = _param("random", "'random', or one of the simulator's trajectory kinds")
    loop: bool = _param(True, "start a new scene (seed + 1) when a sequence ends; otherwise stop publishing")
    repeat_sequence: bool = _param(False, "with loop: replay the first sequence's rendered frames (fresh stamps) "
                                          "instead of rendering new scenes, so high rates stay affordable (soak)")
    depth_encoding: str = _param("16UC1", "'16UC1' (millimetres) or '32FC1' (metres)")
    publish_ground_truth: bool = _param(True, "publish ground truth ObjectPoseArray on 'ground_truth/objects'")
    realism: str = _param("default", "sensor, segmenter and appearance realism: 'none' (clean), 'default', "
                                     "'heavy' or 'target' (held out from training; docs/simulator.md); ground "
                                     "truth stays exact")
    warn_period: float = _param(5.0, "seconds between repeats of one kind of warning")

    def validate(self) -> None:
        """Raise ValueError listing every bad parameter."""
        errors = []
        if self.seed < 0:
            errors.append(f"seed must be >= 0, got {self.seed}")
        if self.frames < 1:
            errors.append(f"frames must be >= 1, got {self.frames}")
        if not self.rate_hz > 0:
            errors.append(f"rate_hz must be > 0, got {self.rate_hz}")
        if not (16 <= self.width <= 4096 and 16 <= self.height <= 4096):
            errors.append(f"image size {self.width}x{self.height} outside 16..4096")
        if not 10.0 <= self.hfov_deg <= 150.0:
            errors.append(f"hfov_deg must be in [10, 150], got {self.hfov_deg}")
        unknown = sorted(set(self.categories) - set(CATEGORIES))
        if unknown or not self.categories:
            errors.append(f"categories must be a non-empty subset of {list(CATEGORIES)}, unknown: {unknown}")
        if not 1 <= self.min_objects <= self.max_objects <= 12:
            errors.append(f"need 1 <= min_objects <= max_objects <= 12, got {self.min_objects}..{self.max_objects}")
        if self.depth_encoding not in ("16UC1", "32FC1"):
            errors.append(f"depth_encoding must be '16UC1' or '32FC1', got {self.depth_encoding!r}")
        if self.realism not in REALISM_LEVELS:
            errors.append(f"realism must be one of {list(REALISM_LEVELS)}, got {self.realism!r}")
        if not self.warn_period >= 0:
            errors.append(f"warn_period must be >= 0, got {self.warn_period}")
        if errors:
            raise ValueError("invalid parameters: " + "; ".join(errors))


@dataclass
class TrajectoryRecorderParams:
    """Parameters of ``trajectory_recorder`` (config/record.yaml)."""

    fixed_frame: str = _param("map", "camera poses are looked up as fixed_frame <- image frame_id")
    image_topics: list[str] = _param(["color/image_raw", "depth/image_raw", "segmentation"],
                                     "image topics to synchronise and record (relative, remappable)")
    camera_info_topic: str = _param("color/camera_info", "camera_info topic recorded with each keyframe")
    output_dir: str = _param("~/selfpose_bags", "directory of the bags <prefix>_<date>_<k>/")
    bag_prefix: str = _param("trajectory", "bag directory name prefix")
    autostart: bool = _param(True, "start recording at launch (else call ~/start)")
    categories: list[str] = _param(list(CATEGORIES), "label categories (panoptic index order), stored in the metadata")
    min_translation: float = _param(0.05, "keep a frame after this camera motion since the last keyframe, m")
    min_rotation_deg: float = _param(5.0, "... or after this rotation since the last keyframe, degrees")
    max_linear_speed: float = _param(0.5, "drop frames taken faster than this (blur), m/s")
    max_angular_speed_deg: float = _param(45.0, "drop frames taken turning faster than this (blur), deg/s")
    blur_dt: float = _param(0.033, "speed is measured over [stamp - blur_dt, stamp] (about the exposure), s")
    max_gap: float = _param(1.0, "a longer time without a sharp frame ends the trajectory segment, s")
    jump_translation: float = _param(0.25, "a larger motion since the last keyframe ends the segment, m")
    jump_rotation_deg: float = _param(30.0, "a larger rotation since the last keyframe ends the segment, degrees")
    max_bag_size_mb: float = _param(1024.0, "start a new bag above this size, MB (0: no limit)")
    max_bag_duration_s: float = _param(600.0, "start a new bag after this long, once it has a keyframe, s (0: off)")
    chunk_period_s: float = _param(1.0, "close and flush the open MCAP chunk this often: the most a crash loses, s")
    metadata_period_s: float = _param(5.0, "rewrite metadata.yaml of the open bag this often, s")
    compression: str = _param("none", "MCAP chunk compression: 'none' or 'zstd'")
    image_qos: str = _param("reliable", "'reliable' (lossless for large images; needs a reliable publisher, the "
                            "ROS default) or 'sensor_data' (best effort, any publisher)")
    sync_slop: float = _param(0.02, "approximate-time sync tolerance, seconds")
    sync_queue: int = _param(10, "approximate-time sync queue size per topic")
    tf_timeout: float = _param(0.5, "how long a frame waits for its TF before it is dropped, s")
    min_free_space_mb: float = _param(500.0, "~/start (and autostart) refuse to record when output_dir has less "
                                             "free space than this, MB")
    tf_cache_s: float = _param(10.0, "TF history kept for lookups, s")
    warn_period: float = _param(5.0, "seconds between repeats of the same warning")

    def gate_config(self) -> GateConfig:
        """The keyframe gate's thresholds, taken from the parameters of the same names."""
        return GateConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(GateConfig)})

    def validate(self) -> None:
        """Raise ValueError listing every bad parameter."""
        errors = []
        for name in ("fixed_frame", "camera_info_topic", "output_dir"):
            if not getattr(self, name):
                errors.append(f"{name} must not be empty")
        if not self.image_topics or any(not t for t in self.image_topics):
            errors.append(f"image_topics must be a non-empty list of topic names, got {self.image_topics}")
        elif len(set(self.image_topics)) != len(self.image_topics):
            errors.append(f"image_topics has repeats: {self.image_topics}")
        if not self.bag_prefix or "/" in self.bag_prefix:
            errors.append(f"bag_prefix must be a non-empty name without '/', got {self.bag_prefix!r}")
        unknown = sorted(set(self.categories) - set(CATEGORIES))
        if unknown:
            errors.append(f"unknown categories {unknown}; known: {list(CATEGORIES)}")
        try:  # the keyframe thresholds have one set of rules: the gate's own
            self.gate_config().validate()
        except ValueError as exc:
            errors.append(str(exc))
        for name in ("chunk_period_s", "metadata_period_s", "sync_slop", "tf_timeout", "tf_cache_s"):
            if not getattr(self, name) > 0:
                errors.append(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_bag_size_mb", "max_bag_duration_s", "warn_period", "min_free_space_mb"):
            if not getattr(self, name) >= 0:
                errors.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.tf_cache_s <= self.blur_dt + self.tf_timeout:
            errors.append(f"tf_cache_s ({self.tf_cache_s}) must exceed blur_dt + tf_timeout")
        if self.compression not in ("none", "zstd"):
            errors.append(f"compression must be 'none' or 'zstd', got {self.compression!r}")
        if self.image_qos not in ("sensor_data", "reliable"):
            errors.append(f"image_qos must be 'sensor_data' or 'reliable', got {self.image_qos!r}")
        if self.sync_queue < 1:
            errors.append(f"sync_queue must be >= 1, got {self.sync_queue}")
        if errors:
            raise ValueError("invalid parameters: " + "; ".join(errors))
