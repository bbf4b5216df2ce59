"""Project-wide conventions: categories, panoptic labels and symmetries (see docs/design.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

#: Default category list, in NOCS order. ``category_index`` is 1-based: 0 is background.
CATEGORIES: tuple[str, ...] = ("bottle", "bowl", "camera", "can", "laptop", "mug")

#: Multiplier of the panoptic label: ``label = category_index * LABEL_DIVISOR + instance``.
LABEL_DIVISOR = 1000

SymmetryKind = Literal["none", "continuous_y", "mirror_x", "mirror_z"]

#: Symmetry of each category's canonical frame (+Y up; mug handle along +X; laptop hinge along +X).
#: ``continuous_y``: any rotation about +Y maps the shape onto itself.
#: ``mirror_x`` / ``mirror_z``: the reflection negating x (resp. z) maps the shape onto itself.
SYMMETRY: dict[str, SymmetryKind] = {
    "bottle": "continuous_y",
    "bowl": "continuous_y",
    "can": "continuous_y",
    "mug": "mirror_z",
    "laptop": "mirror_x",
    "camera": "none",
}


#: Categories with a handle whose visibility decides whether their yaw is observable (NOCS: the mug). A view
#: without the handle is scored, and trained, as symmetric about +Y; see shapes/handle.py.
HANDLE_CATEGORIES: tuple[str, ...] = ("mug",)


def category_index(category: str, categories: Sequence[str] = CATEGORIES) -> int:
    """Return the 1-based index of ``category`` in ``categories``; raise ValueError if unknown."""
    try:
        return list(categories).index(category) + 1
    except ValueError:
        raise ValueError(f"unknown category {category!r}; known: {list(categories)}") from None


def encode_label(category: str, instance: int, categories: Sequence[str] = CATEGORIES) -> int:
    """Return the panoptic label ``category_index * 1000 + instance``."""
    if not 0 <= instance < LABEL_DIVISOR:
        raise ValueError(f"instance {instance} outside [0, {LABEL_DIVISOR})")
    return category_index(category, categories) * LABEL_DIVISOR + instance


def decode_label(label: int, categories: Sequence[str] = CATEGORIES) -> tuple[str, int]:
    """Return ``(category, instance)`` for a panoptic label; raise ValueError for background or unknown."""
    idx, instance = divmod(int(label), LABEL_DIVISOR)
    if idx <= 0 or idx > len(categories):
        raise ValueError(f"label {label} has category index {idx}, outside 1..{len(categories)}")
    return categories[idx - 1], instance


def mirror_matrix(category: str) -> np.ndarray | None:
    """Return the 3x3 reflection of a mirror-symmetric category, or None when it has none."""
    kind = SYMMETRY.get(category, "none")
    if kind == "mirror_x":
        return np.diag([-1.0, 1.0, 1.0])
    if kind == "mirror_z":
        return np.diag([1.0, 1.0, -1.0])
    return None
