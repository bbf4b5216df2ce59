"""Every category's shape generator by name, with instance sampling helpers."""

from __future__ import annotations

import numpy as np

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.shapes.bottle import BOTTLE
from selfpose_ros.shapes.bowl import BOWL
from selfpose_ros.shapes.camera_body import CAMERA
from selfpose_ros.shapes.can import CAN
from selfpose_ros.shapes.instance import RENDER_RESOLUTION, CategoryShape, ShapeInstance, make_instance
from selfpose_ros.shapes.laptop import LAPTOP
from selfpose_ros.shapes.mug import MUG

#: Shape generator of each category in ``conventions.CATEGORIES``.
CATEGORY_SHAPES: dict[str, CategoryShape] = {s.name: s for s in (BOTTLE, BOWL, CAMERA, CAN, LAPTOP, MUG)}
assert set(CATEGORY_SHAPES) == set(CATEGORIES), "shape library and conventions disagree on categories"


def category_shape(category: str) -> CategoryShape:
    """Return the shape generator of ``category``; raise ValueError for an unknown name."""
    try:
        return CATEGORY_SHAPES[category]
    except KeyError:
        raise ValueError(f"no shape generator for category {category!r}; known: {sorted(CATEGORY_SHAPES)}") from None


def sample_instance(category: str, rng: np.random.Generator, resolution: int = RENDER_RESOLUTION) -> ShapeInstance:
    """Draw a random instance of ``category`` in its canonical frame."""
    shape = category_shape(category)
    return make_instance(shape, shape.sample_params(rng), resolution)


def mean_instance(category: str, resolution: int = RENDER_RESOLUTION) -> ShapeInstance:
    """Return the instance built from the midpoint of every parameter range."""
    shape = category_shape(category)
    return make_instance(shape, shape.mean_params(), resolution)
