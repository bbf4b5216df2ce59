"""Real household size ranges of every category, and what happens to an estimate whose size leaves them.

A size is the metric extent (metres) of the object's box along its canonical axes x, y, z (+Y up; the
mug's handle and the laptop's hinge along +X; see ``conventions``). Solids of revolution (bottle, bowl,
can) have x = z = diameter, y = height, and a range of proportions (height / diameter) as well.
The ranges cover real objects (and every instance the simulator generates; tested), see
docs/instance_geometry.md for the table and the sources of the numbers.

Policy for an estimated size (``check_size``), chosen so that nothing outside a range is ever reported:
- inside the range: kept;
- outside by at most ``MAX_CLAMP_FACTOR`` (1.5x on some axis or on the proportions): clamped into the
  range, and the estimate's confidence multiplied by ``1 / factor**2`` (the fit was off, not absurd);
- further outside: the estimate fails with the reason ``size_out_of_range`` (a 0.8 m bowl is a fit that
  followed the background, its pose cannot be trusted either).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfpose_ros.conventions import CATEGORIES, SYMMETRY

#: Beyond this factor outside its category's range, a size fails the estimate instead of being clamped.
MAX_CLAMP_FACTOR = 1.5

#: Failure reason prefix of an estimate whose size is too far outside its range.
SIZE_OUT_OF_RANGE = "size_out_of_range"


@dataclass(frozen=True)
class SizeRange:
    """Metric box extents (metres) along canonical x, y, z, and height/diameter for solids of revolution."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]
    axes: tuple[str, str, str]  # what each canonical extent measures
    aspect: tuple[float, float] | None = None  # y / x (height / diameter), solids of revolution only
    examples: str = ""

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.low), np.asarray(self.high)
        if lo.shape != (3,) or hi.shape != (3,) or not (0 < lo).all() or not (lo < hi).all():
            raise ValueError(f"invalid size range {self}")
        if self.aspect is not None and not 0 < self.aspect[0] < self.aspect[1]:
            raise ValueError(f"invalid aspect range {self.aspect}")


#: Real household objects, metres. Revolution solids: (diameter, height, diameter).
CATEGORY_SIZE_RANGES: dict[str, SizeRange] = {
    "bottle": SizeRange(
        (0.025, 0.08, 0.025),
        (0.2, 0.42, 0.2),
        ("diameter", "height", "diameter"),
        (1.2, 8.0),
        "100 ml medicine bottle to 2 l soda and 5 l water bottles, squat juice to slender oil",
    ),
    "bowl": SizeRange(
        (0.08, 0.015, 0.08),
        (0.35, 0.18, 0.35),
        ("rim diameter", "height", "rim diameter"),
        (0.1, 0.8),
        "dip bowl to salad bowl, flat pasta plate-bowl to deep cereal bowl",
    ),
    "can": SizeRange(
        (0.045, 0.02, 0.045),
        (0.16, 0.25, 0.16),
        ("diameter", "height", "diameter"),
        (0.3, 2.6),
        "squat tuna and shoe-polish tins (height/diameter 0.35) to slim drink cans (2.2-2.5), large food tins",
    ),
    "mug": SizeRange(
        (0.06, 0.05, 0.045),
        (0.25, 0.17, 0.19),
        ("width with handle", "height", "body diameter"),
        None,
        "espresso cup to large soup mug",
    ),
    "laptop": SizeRange(
        (0.20, 0.008, 0.12),
        (0.45, 0.36, 0.50),
        ("width (hinge)", "height", "depth"),
        None,
        '10" netbook to 17" laptop, closed (height = thickness) to fully open',
    ),
    "camera": SizeRange(
        (0.07, 0.045, 0.025),
        (0.20, 0.17, 0.25),
        ("body width", "height", "depth with lens"),
        None,
        "compact camera to DSLR with a long lens",
    ),
}
assert set(CATEGORY_SIZE_RANGES) == set(CATEGORIES), "size ranges and conventions disagree on categories"
assert all((CATEGORY_SIZE_RANGES[c].aspect is not None) == (SYMMETRY[c] == "continuous_y") for c in CATEGORIES), (
    "solids of revolution, and only they, have a height/diameter range"
)


@dataclass(frozen=True)
class SizeCheck:
    """The size to report (None when the estimate fails), how far outside the range it was, and what to do."""

    size: np.ndarray | None  # (3,) metres
    factor: float  # 1.0 inside the range; else the largest ratio outside it (>= 1)
    clamped: bool
    confidence_factor: float  # multiply the estimate's confidence by this
    failure: str | None = None


def size_range(category: str) -> SizeRange:
    """The documented size range of ``category``; ValueError for an unknown one."""
    try:
        return CATEGORY_SIZE_RANGES[category]
    except KeyError:
        raise ValueError(f"no size range for category {category!r}; known: {sorted(CATEGORY_SIZE_RANGES)}") from None


def _ratio_outside(value: float, low: float, high: float) -> float:
    return max(value / high, low / value, 1.0)


def typical_size(category: str) -> np.ndarray:
    """The middle of ``category``'s range (3,) metres: per axis the geometric mean of its low and high."""
    r = size_range(category)
    return np.sqrt(np.asarray(r.low, np.float64) * np.asarray(r.high, np.float64))


def range_factor(category: str, size: np.ndarray) -> float:
    """How far ``size`` (3,) lies outside its category's range: 1.0 inside, else the largest ratio (>= 1)."""
    r = size_range(category)
    s = np.asarray(size, np.float64)
    if s.shape != (3,) or not (np.isfinite(s).all() and (s > 0).all()):
        return float("inf")
    f = max(_ratio_outside(float(s[k]), r.low[k], r.high[k]) for k in range(3))
    if r.aspect is not None:
        f = max(f, _ratio_outside(float(s[1] / (0.5 * (s[0] + s[2]))), *r.aspect))
    return float(f)


def clamp_size(category: str, size: np.ndarray) -> np.ndarray:
    """``size`` (3,) moved into its category's range (proportions too, for solids of revolution)."""
    r = size_range(category)
    s = np.clip(np.asarray(size, np.float64), r.low, r.high)
    if r.aspect is not None:  # one diameter, then a height that fits it (tests: every diameter has one)
        d = float(np.clip(0.5 * (s[0] + s[2]), r.low[0], r.high[0]))
        h = float(np.clip(s[1], max(r.low[1], r.aspect[0] * d), min(r.high[1], r.aspect[1] * d)))
        s = np.array([d, h, d])
    return s


def check_size(category: str, size: np.ndarray, max_factor: float = MAX_CLAMP_FACTOR) -> SizeCheck:
    """Apply the module's policy to an estimated ``size`` (3,) metres: keep, clamp or fail (see above)."""
    f = range_factor(category, size)
    if f <= 1.0:
        return SizeCheck(np.asarray(size, np.float64).copy(), 1.0, False, 1.0)
    s = np.round(np.asarray(size, np.float64), 3).tolist()
    if not np.isfinite(f) or f > max_factor:
        r = size_range(category)
        return SizeCheck(
            None,
            f,
            False,
            0.0,
            f"{SIZE_OUT_OF_RANGE}: {category} size {s} m is {f:.2f}x outside its range "
            f"{list(r.low)}..{list(r.high)} m"
            + (f", height/diameter {list(r.aspect)}" if r.aspect else "")
            + f" (clamped only within {max_factor}x)",
        )
    return SizeCheck(clamp_size(category, size), f, True, 1.0 / f**2)


def axis_scale_bounds(
    category: str, extents: np.ndarray, slack: float = MAX_CLAMP_FACTOR
) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis scale bounds (low (3,), high (3,)), metres per canonical unit, for a model of ``extents`` (3,).

    The range widened by ``slack`` each way: a fit may overshoot a little and still be clamped.
    """
    r = size_range(category)
    e = np.asarray(extents, np.float64)
    return np.asarray(r.low) / e / slack, np.asarray(r.high) / e * slack


def similarity_scale_bounds(category: str, extents: np.ndarray, slack: float = MAX_CLAMP_FACTOR) -> tuple[float, float]:
    """Loosest bounds (lo, hi) on one similarity scale for a model of ``extents`` (3,) (see axis_scale_bounds)."""
    lo, hi = axis_scale_bounds(category, extents, slack)
    return float(lo.min()), float(hi.max())
