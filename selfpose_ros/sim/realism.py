"""Realism levels of the simulator: how a real RGB-D camera, segmenter and room differ from the clean render.

Four groups of effects, each a frozen dataclass whose all-zero / off state changes nothing:
``DepthArtefacts`` (sim/depth_artefacts.py), ``SegmenterNoise`` (sim/segmenter.py), ``SceneDressing``
(sim/dressing.py: textures, materials, backgrounds, clutter, lights) and ``ImagePipeline``
(sim/image_pipeline.py: exposure, white balance, motion blur, sensor noise, JPEG). ``realism_preset(level)``
gives the three named levels: ``none`` (the clean simulator, byte-identical to the simulator without
realism), ``default`` (a typical consumer RGB-D camera with a decent instance segmenter) and ``heavy`` (a
harder stand-in for real data). docs/simulator.md says what each effect imitates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

RealismLevel = Literal["none", "default", "heavy", "target"]
#: The named realism levels, mildest first; ``target`` is ``heavy`` in a room and camera never used for training
#: (benchmarks/adapt.py: the stand-in for a new robot).
REALISM_LEVELS: tuple[RealismLevel, ...] = ("none", "default", "heavy", "target")


def _check_probabilities(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{type(obj).__name__}.{name} must be a probability in [0, 1], got {value}")


def _check_non_negative(obj: object) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{type(obj).__name__}.{f.name} must be >= 0, got {value}")
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            if not 0 <= value[0] <= value[1]:
                raise ValueError(f"{type(obj).__name__}.{f.name} must be a range 0 <= lo <= hi, got {value}")


@dataclass(frozen=True)
class DepthArtefacts:
    """Depth errors of structured-light / ToF sensors, on top of ``DepthSensorModel``'s noise and holes."""

    scale_error: float = 0.0  # std of the per-sequence relative depth scale error (0.004 = 0.4 %)
    bias: float = 0.0  # std of the per-sequence depth offset, metres
    correlated_noise: float = 0.0  # std of the low-frequency noise field at 1 m (grows with z^2), metres
    correlated_cells: int = 8  # the noise field's resolution: cells across the image width
    flying_pixels: float = 0.0  # probability that a pixel at a depth discontinuity reads a mixed depth
    shadow_baseline: float = 0.0  # projector-camera baseline (m) casting occlusion shadows; 0 = none
    edge_band: int = 0  # pixels either side of a discontinuity in which readings may drop out
    edge_band_dropout: float = 0.0  # probability of a dropout inside that band (in ragged runs)
    dark_holes: float = 0.0  # probability of losing a reading on the darkest surfaces
    specular_holes: float = 0.0  # probability of losing a reading inside a specular highlight
    transparent_holes: float = 0.0  # probability of losing a reading on transparent-looking material
    registration_px: float = 0.0  # max depth-to-colour registration offset, pixels (per sequence)

    def __post_init__(self) -> None:
        _check_non_negative(self)
        _check_probabilities(
            self, ("flying_pixels", "edge_band_dropout", "dark_holes", "specular_holes", "transparent_holes")
        )
        if self.correlated_cells < 2:
            raise ValueError(f"correlated_cells must be >= 2, got {self.correlated_cells}")

    @property
    def enabled(self) -> bool:
        """True when any effect is on."""
        return any(getattr(self, f.name) for f in fields(self) if f.name != "correlated_cells")


@dataclass(frozen=True)
class SegmenterNoise:
    """Errors of a real instance segmenter; the ground truth stays exact, only the published labels change."""

    bleed_px: tuple[float, float] = (0.0, 0.0)  # per-instance range of the mean boundary dilation, pixels
    bleed_fraction: float = 0.0  # share of instances that bleed (the others may erode)
    erode_px: tuple[float, float] = (0.0, 0.0)  # per-instance range of the mean boundary erosion, pixels
    jag_px: float = 0.0  # amplitude of jagged, high-frequency boundary noise, pixels
    holes: float = 0.0  # expected holes per instance per frame
    hole_px: tuple[float, float] = (2.0, 6.0)  # hole radius range, pixels
    spurious_blobs: float = 0.0  # expected spurious blobs per instance per frame
    blob_px: tuple[float, float] = (2.0, 7.0)  # blob radius range, pixels
    occluder_cut: float = 0.0  # probability per instance and frame of losing a part to a phantom occluder
    cut_fraction: tuple[float, float] = (0.1, 0.35)  # share of the mask lost to it
    merge: float = 0.0  # probability per frame that two touching instances become one
    split: float = 0.0  # probability per instance and frame that it is split in two labels

    def __post_init__(self) -> None:
        _check_non_negative(self)
        _check_probabilities(self, ("bleed_fraction", "occluder_cut", "merge", "split"))
        if self.cut_fraction[1] >= 1.0:
            raise ValueError(f"cut_fraction must stay below 1, got {self.cut_fraction}")

    @property
    def enabled(self) -> bool:
        """True when any effect is on."""
        return bool(
            self.bleed_px[1]
            or self.erode_px[1]
            or self.jag_px
            or self.holes
            or self.spurious_blobs
            or self.occluder_cut
            or self.merge
            or self.split
        )


@dataclass(frozen=True)
class SceneDressing:
    """How the scene looks: object materials, backgrounds, clutter and lights (drawn once per sequence)."""

    rich_textures: bool = False  # labels, printed noise, stripes; wood, fabric, stone backgrounds
    glossy_fraction: float = 0.0  # share of object parts with a specular (glossy) finish
    transparent_fraction: float = 0.0  # share of bottles and bowls made of transparent-looking material
    clutter: tuple[int, int] = (0, 0)  # range of clutter objects (no category, label 0) on the table
    extra_lights: tuple[int, int] = (0, 0)  # range of lights besides the main one

    def __post_init__(self) -> None:
        _check_non_negative(self)
        _check_probabilities(self, ("glossy_fraction", "transparent_fraction"))
        if self.clutter[1] > 20 or self.extra_lights[1] > 4:
            raise ValueError("at most 20 clutter objects and 4 extra lights")

    @property
    def enabled(self) -> bool:
        """True when any effect is on."""
        return bool(
            self.rich_textures
            or self.glossy_fraction
            or self.transparent_fraction
            or self.clutter[1]
            or self.extra_lights[1]
        )


@dataclass(frozen=True)
class ImagePipeline:
    """What the colour camera does to the rendered radiance: exposure, white balance, blur, noise, JPEG."""

    exposure_stops: float = 0.0  # std of the per-sequence exposure error, stops (plus 1/4 of it per frame)
    white_balance: float = 0.0  # std of the per-sequence red / blue gain error (relative)
    exposure_time_s: tuple[float, float] = (0.0, 0.0)  # per-sequence exposure time range for motion blur
    read_noise: float = 0.0  # read-noise std, in 8-bit levels
    shot_noise: float = 0.0  # shot-noise std at full scale (grows with sqrt of the intensity), 8-bit levels
    jpeg_quality: tuple[int, int] = (0, 0)  # per-sequence JPEG quality range; 0 = no compression
    vignetting: float = 0.0  # relative brightness loss in the image corners
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)  # fixed (r, g, b) gains of the room light and sensor

    def __post_init__(self) -> None:
        _check_non_negative(self)
        if self.jpeg_quality[1] > 100:
            raise ValueError(f"jpeg_quality must lie in 1..100, got {self.jpeg_quality}")
        if self.jpeg_quality[1] and not self.jpeg_quality[0]:
            raise ValueError(f"jpeg_quality range must be within 1..100, got {self.jpeg_quality}")
        if self.read_noise**2 + self.shot_noise**2 > 256:
            raise ValueError("read_noise^2 + shot_noise^2 must stay <= 256 (a 16-level noise std at most)")
        if self.vignetting >= 1.0:
            raise ValueError(f"vignetting must be < 1, got {self.vignetting}")

    @property
    def enabled(self) -> bool:
        """True when any effect is on."""
        return bool(
            self.exposure_stops
            or self.white_balance
            or self.exposure_time_s[1]
            or self.read_noise
            or self.shot_noise
            or self.jpeg_quality[1]
            or self.vignetting
            or self.cast != (1.0, 1.0, 1.0)
        )


@dataclass(frozen=True)
class RealismConfig:
    """Every realism effect of the simulator; ``RealismConfig()`` (level ``none``) is the clean simulator."""

    level: str = "none"  # name for logs and reports; the fields below are what counts
    depth: DepthArtefacts = field(default_factory=DepthArtefacts)
    segmenter: SegmenterNoise = field(default_factory=SegmenterNoise)
    dressing: SceneDressing = field(default_factory=SceneDressing)
    image: ImagePipeline = field(default_factory=ImagePipeline)

    @property
    def enabled(self) -> bool:
        """True when any effect is on."""
        return self.depth.enabled or self.segmenter.enabled or self.dressing.enabled or self.image.enabled


_DEFAULT = RealismConfig(
    level="default",
    depth=DepthArtefacts(
        scale_error=0.004,
        bias=0.003,
        correlated_noise=0.0015,
        flying_pixels=0.5,
        shadow_baseline=0.05,
        edge_band=2,
        edge_band_dropout=0.3,
        dark_holes=0.4,
        specular_holes=0.7,
        transparent_holes=0.6,
        registration_px=2.0,
    ),
    segmenter=SegmenterNoise(
        bleed_px=(0.5, 5.0),
        bleed_fraction=0.7,
        erode_px=(0.5, 2.5),
        jag_px=1.5,
        holes=0.3,
        spurious_blobs=0.3,
        occluder_cut=0.05,
        merge=0.03,
        split=0.02,
    ),
    dressing=SceneDressing(
        rich_textures=True, glossy_fraction=0.4, transparent_fraction=0.15, clutter=(1, 4), extra_lights=(1, 2)
    ),
    image=ImagePipeline(
        exposure_stops=0.35,
        white_balance=0.08,
        exposure_time_s=(0.004, 0.02),
        read_noise=1.5,
        shot_noise=3.0,
        jpeg_quality=(75, 95),
        vignetting=0.15,
    ),
)

_HEAVY = RealismConfig(
    level="heavy",
    depth=DepthArtefacts(
        scale_error=0.01,
        bias=0.008,
        correlated_noise=0.004,
        flying_pixels=0.9,
        shadow_baseline=0.075,
        edge_band=4,
        edge_band_dropout=0.5,
        dark_holes=0.9,
        specular_holes=0.9,
        transparent_holes=0.9,
        registration_px=4.0,
    ),
    segmenter=SegmenterNoise(
        bleed_px=(2.0, 12.0),
        bleed_fraction=0.8,
        erode_px=(1.0, 5.0),
        jag_px=3.0,
        holes=1.0,
        spurious_blobs=1.0,
        occluder_cut=0.15,
        cut_fraction=(0.15, 0.45),
        merge=0.1,
        split=0.06,
    ),
    dressing=SceneDressing(
        rich_textures=True, glossy_fraction=0.6, transparent_fraction=0.3, clutter=(3, 8), extra_lights=(1, 3)
    ),
    image=ImagePipeline(
        exposure_stops=0.7,
        white_balance=0.15,
        exposure_time_s=(0.01, 0.04),
        read_noise=3.0,
        shot_noise=6.0,
        jpeg_quality=(40, 80),
        vignetting=0.3,
    ),
)

#: Held out from every training run: heavy, under warm tungsten light (a strong fixed colour cast, darker), with a
#: segmenter that erodes masks more and bleeds less, and a noisier depth camera.
_TARGET = RealismConfig(
    level="target",
    depth=replace(_HEAVY.depth, correlated_noise=0.006, scale_error=0.012),
    segmenter=replace(_HEAVY.segmenter, erode_px=(2.0, 6.0), bleed_fraction=0.4),
    dressing=_HEAVY.dressing,
    image=replace(_HEAVY.image, cast=(1.3, 0.95, 0.6), exposure_stops=0.5, read_noise=4.0),
)

_PRESETS: dict[str, RealismConfig] = {"none": RealismConfig(), "default": _DEFAULT, "heavy": _HEAVY,
                                      "target": _TARGET}


def realism_preset(level: str) -> RealismConfig:
    """The realism configuration of a named level (``none``, ``default`` or ``heavy``)."""
    try:
        return _PRESETS[level]
    except KeyError:
        raise ValueError(f"unknown realism level {level!r}; choose one of {list(REALISM_LEVELS)}") from None
