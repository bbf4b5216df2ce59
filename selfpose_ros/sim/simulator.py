"""A simulated RGB-D sequence: scene + trajectory + renderer + sensor model, one labelled frame per index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.geometry.transforms import invert_rigid, rigid
from selfpose_ros.sim.cast_worker import CastWorker
from selfpose_ros.sim.cast_worker import available as cast_worker_available
from selfpose_ros.sim.depth_artefacts import (
    DepthCalibration,
    SurfaceCues,
    after_sensor,
    before_sensor,
    draw_calibration,
)
from selfpose_ros.sim.depth_sensor import DepthSensorModel, depth_to_millimetres
from selfpose_ros.sim.dressing import dress_scene
from selfpose_ros.sim.image_pipeline import ColourCamera, image_motion
from selfpose_ros.sim.pinhole import PinholeCamera
from selfpose_ros.sim.raycaster import RayHits, SceneRaycaster
from selfpose_ros.sim.realism import RealismConfig
from selfpose_ros.sim.scene import Scene, SceneConfig, generate_scene
from selfpose_ros.sim.segmenter import degrade_segmentation, draw_severities
from selfpose_ros.sim.shading import Shader
from selfpose_ros.sim.tf_tree import FrameTransform, base_poses, static_chain
from selfpose_ros.sim.trajectory import TRAJECTORY_KINDS, ViewRequest, generate_trajectory

#: ``frames()`` casts ahead in a worker process from this many rays (frames x pixels) on: its start costs about
#: 1.4 s of CPU, 30 frames at 640x480 win it back (docs/simulator.md, Measurements).
AHEAD_MIN_RAYS = 30 * 640 * 480
#: Stamp of frame 0 (nanoseconds): fixed, so that a seed always gives the same bag bytes.
DEFAULT_START_STAMP_NS = 1_700_000_000 * 10**9


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated sequence apart from the seed."""

    width: int = 640
    height: int = 480
    hfov_deg: float = 69.0
    rate_hz: float = 15.0
    num_frames: int = 100
    trajectory: str = "random"  # one of TRAJECTORY_KINDS, or "random" to draw one
    scene: SceneConfig = field(default_factory=SceneConfig)
    sensor: DepthSensorModel = field(default_factory=DepthSensorModel)
    realism: RealismConfig = field(default_factory=RealismConfig)  # level none: the clean simulator
    mount_xyz: tuple[float, float, float] = (0.05, 0.0, 0.08)  # base_link -> camera_link translation, metres
    start_stamp_ns: int = DEFAULT_START_STAMP_NS

    def __post_init__(self) -> None:
        if self.trajectory != "random" and self.trajectory not in TRAJECTORY_KINDS:
            raise ValueError(f"unknown trajectory {self.trajectory!r}; use 'random' or one of {TRAJECTORY_KINDS}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.start_stamp_ns < 0:
            raise ValueError("start_stamp_ns must be >= 0")


@dataclass
class ObjectTruth:
    """Ground truth of one object in one frame: similarity canonical -> optical frame, size, visibility."""

    category: str
    instance_id: int
    label: int
    scale: float  # s, metres per canonical unit
    rotation: np.ndarray  # (3, 3) canonical -> optical
    translation: np.ndarray  # (3,) metres, optical frame
    size: np.ndarray  # (3,) metric box extents = scale * canonical extents
    visibility: float  # visible pixels / pixels it would cover unoccluded (0 when out of view)
    visible_pixels: int
    unoccluded_pixels: int

    def similarity_matrix(self) -> np.ndarray:
        """4x4 matrix [s R | t] mapping canonical points to the optical frame."""
        T = rigid(self.rotation, self.translation)
        T[:3, :3] *= self.scale
        return T


def ground_truth(
    scene: Scene, raycaster: SceneRaycaster, hits: RayHits, T_map_optical: np.ndarray
) -> list[ObjectTruth]:
    """Per-object truth of one cast: pose in the optical frame, size, and visibility from an unoccluded cast."""
    objects = scene.objects
    pixel_object = raycaster.object_index(hits)
    counts = np.bincount(pixel_object + 1, minlength=len(objects) + 1)[1:]
    T_opt_map = invert_rigid(T_map_optical)
    out = []
    for j, obj in enumerate(objects):
        T = T_opt_map @ obj.T_map_object
        full = raycaster.unoccluded_pixels(j, T_map_optical, hits, pixel_object)
        seen = int(counts[j])
        out.append(ObjectTruth(
            category=obj.category, instance_id=obj.instance_id, label=obj.label, scale=obj.scale,
            rotation=T[:3, :3].copy(), translation=T[:3, 3].copy(), size=obj.size.copy(),
            visibility=min(1.0, seen / full) if full > 0 else 0.0, visible_pixels=seen, unoccluded_pixels=full,
        ))
    return out


@dataclass
class SimFrame:
    """One rendered frame with its ground truth; images share the optical frame and the stamp."""

    index: int
    stamp_ns: int
    rgb: np.ndarray  # (H, W, 3) uint8
    depth_m: np.ndarray  # (H, W) float32 metres, NaN = no reading (sensor model applied)
    depth_mm: np.ndarray  # (H, W) uint16 millimetres, 0 = no reading
    depth_true_m: np.ndarray  # (H, W) float32 noise-free depth, 0 = no surface
    segmentation: np.ndarray  # (H, W) int32 panoptic labels, 0 = background, as the segmenter publishes them
    camera: PinholeCamera
    T_map_optical: np.ndarray  # (4, 4)
    T_map_base: np.ndarray  # (4, 4) the moving TF map -> base_link
    objects: list[ObjectTruth]
    static_transforms: tuple[FrameTransform, ...]
    segmentation_true: np.ndarray | None = None  # (H, W) exact labels (the same array when the segmenter is exact)

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsics."""
        return self.camera.K


class SimScene:
    """A seeded simulated sequence; ``render(i)`` is deterministic and independent of call order."""

    def __init__(self, config: SimConfig, seed: int):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.config, self.seed = config, int(seed)
        self.camera = PinholeCamera.from_fov(config.width, config.height, config.hfov_deg)
        self.scene: Scene = generate_scene(np.random.default_rng([self.seed, 0]), config.scene)
        realism = config.realism
        if realism.dressing.enabled:  # looks only: the geometry above is the same at every realism level
            dress_scene(self.scene, realism.dressing, np.random.default_rng([self.seed, 3, 0]))
        self.calibration = (draw_calibration(realism.depth, np.random.default_rng([self.seed, 3, 1]))
                            if realism.depth.enabled else DepthCalibration())
        self.severities = (draw_severities([o.label for o in self.scene.objects], realism.segmenter,
                                           np.random.default_rng([self.seed, 3, 2]))
                           if realism.segmenter.enabled else {})
        self.colour_camera = (ColourCamera(realism.image, (config.height, config.width),
                                           np.random.default_rng([self.seed, 3, 3]))
                              if realism.image.enabled else None)
        rng = np.random.default_rng([self.seed, 1])
        kind = config.trajectory
        if kind == "random":
            kind = TRAJECTORY_KINDS[rng.integers(len(TRAJECTORY_KINDS))]
        self.trajectory_kind = kind
        view = ViewRequest(self.scene.target, self.scene.region_radius,
                           self.scene.table_top_z + self.scene.max_object_height + 0.1)
        self.T_map_optical = generate_trajectory(kind, rng, view, config.num_frames, config.rate_hz)
        self.static_transforms = static_chain(rigid(np.eye(3), np.asarray(config.mount_xyz, dtype=float)))
        self.T_map_base = base_poses(self.T_map_optical, self.static_transforms)
        self.raycaster = SceneRaycaster(self.scene, self.camera)
        self.shader = Shader(self.scene, self.raycaster)
        labels = [0 if g.object_index < 0 else self.scene.objects[g.object_index].label
                  for g in self.raycaster.geometries]
        self._label_of_geometry = np.array(labels + [0], dtype=np.int32)  # index -1 = miss
        self.timings: dict[str, float] = {}
        self.frames_cast_ahead = 0  #: frames of the last ``frames()`` call whose rays the worker cast

    @property
    def num_frames(self) -> int:
        """Number of frames in the sequence."""
        return self.config.num_frames

    def stamp_ns(self, index: int) -> int:
        """Stamp of frame ``index`` in nanoseconds."""
        return self.config.start_stamp_ns + int(round(index * 1e9 / self.config.rate_hz))

    def render(self, index: int) -> SimFrame:
        """Render frame ``index``: colour, measured and true depth, segmentation and per-object truth."""
        self._check_index(index)
        t0 = time.perf_counter()
        hits = self.raycaster.cast(self.T_map_optical[index])
        return self._finish(index, hits, time.perf_counter() - t0)

    def frames(self, start: int = 0, stop: int | None = None, ahead: bool | None = None) -> Iterator[SimFrame]:
        """Render frames ``start..stop-1`` in order; the same frames as ``render(i)``, bit for bit.

        ``ahead``: cast each next frame's rays in a worker process while this one is finished
        (``sim/cast_worker.py``); None: from ``AHEAD_MIN_RAYS`` rays on, where the worker can run.
        """
        stop = self.num_frames if stop is None else stop
        if ahead is None:
            rays = (stop - start) * self.camera.width * self.camera.height
            ahead = rays >= AHEAD_MIN_RAYS and cast_worker_available()
        worker = CastWorker(self.raycaster) if ahead and stop > start else None
        self.frames_cast_ahead = 0
        try:
            for i in range(start, stop):
                self._check_index(i)
                t0 = time.perf_counter()
                hits = worker.take(i) if worker is not None and worker.holds(i) else None
                if hits is None:
                    hits = self.raycaster.cast(self.T_map_optical[i])
                else:
                    self.frames_cast_ahead += 1
                cast_time = time.perf_counter() - t0
                if worker is not None and i + 1 < stop and worker.ready:
                    worker.submit(i + 1, self.T_map_optical[i + 1])
                yield self._finish(i, hits, cast_time)
        finally:
            if worker is not None:
                worker.close()

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.num_frames:
            raise ValueError(f"frame index {index} outside [0, {self.num_frames})")

    def _finish(self, index: int, hits: RayHits, cast_time: float) -> SimFrame:
        """Everything after the ray cast: shading, sensor model, labels, ground truth, realism effects."""
        cam, T = self.camera, self.T_map_optical[index]
        shape = (cam.height, cam.width)
        realism, timings = self.config.realism, {"raycast": cast_time}
        t1 = time.perf_counter()
        layers = self.shader.shade_layers(hits, cues=realism.depth.enabled)
        rgb, cos_inc = layers.rgb.reshape(*shape, 3), layers.cos_incidence.reshape(shape)
        t2 = time.perf_counter()
        depth_true = np.where(hits.geometry >= 0, hits.depth, 0.0).astype(np.float32).reshape(shape)
        rng = np.random.default_rng([self.seed, 2, index])
        if realism.depth.enabled:
            rng_depth = np.random.default_rng([self.seed, 4, index])
            depth_in = before_sensor(depth_true, realism.depth, self.calibration, rng_depth)
            depth_m = self.config.sensor.apply(depth_in, cos_inc, cam.fx, rng)
            cues = SurfaceCues(
                darkness=np.clip(1.0 - layers.albedo_luminance.reshape(shape) / np.float32(0.25), 0.0, 1.0),
                specular=layers.specular.reshape(shape), transparent=layers.transparent.reshape(shape))
            depth_m = after_sensor(depth_m, depth_true, cues, realism.depth, self.calibration, cam.fx, rng_depth)
        else:
            depth_m = self.config.sensor.apply(depth_true, cos_inc, cam.fx, rng)
        t3 = time.perf_counter()
        segmentation_true = np.take(self._label_of_geometry, hits.geometry).reshape(shape)
        depth_mm = depth_to_millimetres(depth_m)
        t4 = time.perf_counter()
        objects = ground_truth(self.scene, self.raycaster, hits, T)
        t5 = time.perf_counter()
        timings.update({"shading": t2 - t1, "sensor": t3 - t2, "encoding": t4 - t3, "ground_truth": t5 - t4})
        segmentation = segmentation_true
        if realism.segmenter.enabled:
            segmentation = degrade_segmentation(segmentation_true, depth_true, self.severities, realism.segmenter,
                                                np.random.default_rng([self.seed, 5, index]))
            timings["segmenter"] = time.perf_counter() - t5
        if self.colour_camera is not None:
            t6 = time.perf_counter()
            rgb = self.colour_camera.apply(rgb, self._motion_during_exposure(index),
                                           np.random.default_rng([self.seed, 6, index]))
            timings["image"] = time.perf_counter() - t6
        self.timings = timings
        return SimFrame(
            index=index, stamp_ns=self.stamp_ns(index), rgb=rgb, depth_m=depth_m,
            depth_mm=depth_mm, depth_true_m=depth_true, segmentation=segmentation, camera=cam,
            T_map_optical=T.copy(), T_map_base=self.T_map_base[index].copy(), objects=objects,
            static_transforms=self.static_transforms, segmentation_true=segmentation_true,
        )

    def _motion_during_exposure(self, index: int) -> tuple[float, float]:
        """Image motion (pixels) of the scene's target point during the exposure of frame ``index``."""
        exposure = self.colour_camera.look.exposure_time_s if self.colour_camera is not None else 0.0
        a, b = max(index - 1, 0), min(index + 1, self.num_frames - 1)
        if exposure <= 0 or a == b:
            return 0.0, 0.0
        dx, dy = image_motion(self.camera.K, self.T_map_optical[a], self.T_map_optical[b], self.scene.target)
        k = exposure * self.config.rate_hz / (b - a)
        return dx * k, dy * k
