"""Shape instances of a category: parameter ranges, sampling, canonical normalisation, metric scale."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import trimesh

from selfpose_ros.shapes.mesh_ops import normalize_canonical

#: Angular resolution (revolve sections) used for rendering-quality meshes.
RENDER_RESOLUTION = 64


@dataclass(frozen=True)
class MetricRange:
    """Real-world size range of a category, given on one canonical axis (0=x, 1=y, 2=z), in metres."""

    axis: int
    low: float
    high: float
    meaning: str

    def __post_init__(self) -> None:
        if self.axis not in (0, 1, 2) or not 0 < self.low <= self.high:
            raise ValueError(f"invalid metric range {self}")


@dataclass(frozen=True)
class BuiltShape:
    """A category builder's raw output: a closed mesh (any scale) and the part index of every face."""

    mesh: trimesh.Trimesh
    face_parts: np.ndarray
    part_names: tuple[str, ...]


@dataclass(frozen=True)
class CategoryShape:
    """How to make instances of one category: parameter ranges, the builder and the metric size range."""

    name: str
    ranges: Mapping[str, tuple[float, float]]
    metric: MetricRange
    build: Callable[[Mapping[str, float], int], BuiltShape]
    description: str = ""
    limits: tuple[MetricRange, ...] = ()  # further real-size bounds on other axes (e.g. a can's height)
    prior: Mapping[str, float] = field(default_factory=dict)  # parameters of the prior instance, if not midpoints

    def sample_params(self, rng: np.random.Generator) -> dict[str, float]:
        """Draw every parameter uniformly from its range."""
        return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in self.ranges.items()}

    def mean_params(self) -> dict[str, float]:
        """Parameters of the category's prior (mean) instance: ``prior`` where given, else range midpoints.

        ``prior`` pins the parameters the shipped priors and model were made with, so that widening a range
        to cover more real objects does not move the prior (models/priors stays valid).
        """
        return {k: float(self.prior.get(k, 0.5 * (lo + hi))) for k, (lo, hi) in self.ranges.items()}

    def check_params(self, params: Mapping[str, float]) -> None:
        """Raise ValueError when a parameter is missing, unknown or outside its range."""
        missing = set(self.ranges) - set(params)
        unknown = set(params) - set(self.ranges)
        if missing or unknown:
            raise ValueError(f"{self.name}: missing params {sorted(missing)}, unknown {sorted(unknown)}")
        for k, (lo, hi) in self.ranges.items():
            if not lo - 1e-9 <= params[k] <= hi + 1e-9:
                raise ValueError(f"{self.name}: param {k}={params[k]} outside [{lo}, {hi}]")


@dataclass
class ShapeInstance:
    """One object shape in its canonical frame (box centre at origin, +Y up, box diagonal 1)."""

    category: str
    params: dict[str, float]
    mesh: trimesh.Trimesh
    face_parts: np.ndarray
    part_names: tuple[str, ...]
    metric: MetricRange
    limits: tuple[MetricRange, ...] = ()
    extents: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        lo, hi = self.mesh.bounds
        self.extents = (hi - lo).astype(float)

    def scale_range(self) -> tuple[float, float]:
        """Range of the similarity scale s (metres per canonical unit) giving a real-world size.

        The category's size range on its metric axis, narrowed by its further ``limits`` on other axes (a tall
        can is not 10 cm wide); raises ValueError when they leave nothing.
        """
        lo, hi = (r / self.extents[self.metric.axis] for r in (self.metric.low, self.metric.high))
        for limit in self.limits:
            ext = self.extents[limit.axis]
            lo, hi = max(lo, limit.low / ext), min(hi, limit.high / ext)
        if lo > hi * (1 + 1e-9):
            raise ValueError(f"{self.category}: no real size satisfies {self.metric} and {self.limits} "
                             f"for extents {self.extents}")
        return lo, max(lo, hi)

    def sample_scale(self, rng: np.random.Generator) -> float:
        """Draw a scale s so that the metric size falls uniformly in the category's range."""
        lo, hi = self.scale_range()
        return float(rng.uniform(lo, hi))


def make_instance(
    shape: CategoryShape, params: Mapping[str, float], resolution: int = RENDER_RESOLUTION
) -> ShapeInstance:
    """Build, validate and normalise the instance of ``shape`` with the given parameters."""
    shape.check_params(params)
    if resolution < 8:
        raise ValueError(f"resolution must be >= 8 sections, got {resolution}")
    built = shape.build(params, resolution)
    if not built.mesh.is_watertight:
        raise ValueError(f"{shape.name}: built mesh is not watertight")
    if len(built.face_parts) != len(built.mesh.faces):
        raise ValueError(f"{shape.name}: {len(built.face_parts)} part labels for {len(built.mesh.faces)} faces")
    mesh, _ = normalize_canonical(built.mesh)
    return ShapeInstance(
        category=shape.name,
        params=dict(params),
        mesh=mesh,
        face_parts=np.asarray(built.face_parts, dtype=np.int32),
        part_names=built.part_names,
        metric=shape.metric,
        limits=shape.limits,
    )
