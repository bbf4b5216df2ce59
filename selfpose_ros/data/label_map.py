"""Segmentation values from common segmenters -> (category, instance), re-encoded as this package's panoptic labels.

Three encodings (``mode``), each with an optional ``label_map`` text such as ``"44: bottle, 47: mug"``:

- ``panoptic`` (default): value = class * 1000 + instance. ``label_map`` maps the class part to a category;
  empty, class k is ``categories[k - 1]`` (the package's own encoding, unchanged).
- ``instance_ids``: each value is one object (an instance-id image) and ``label_map`` is the separate list of
  its class: ``"1: mug, 2: bowl, 3: mug"``. The instance id is the value itself (1..999).
- ``semantic``: each value is a class (a semantic-only image, one object per class): ``"44: bottle, 47: mug"``.
  The instance id is 1, or 2, 3, ... for further classes that ``label_map`` maps to the same category.

Value 0 is background in every mode. A value the map does not know is reported (``unknown``), never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.conventions import LABEL_DIVISOR

MODES = ("panoptic", "instance_ids", "semantic")


def parse_label_map(text: str) -> dict[int, str]:
    """Parse ``"44: bottle, 47: mug"`` into {44: 'bottle', 47: 'mug'}; raise ValueError naming a bad entry."""
    out: dict[int, str] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        key, sep, category = entry.partition(":")
        try:
            value = int(key.strip())
        except ValueError:
            value = None
        if not sep or value is None or not category.strip():
            raise ValueError(f"label_map entry {entry!r} is not '<integer>: <category>'")
        if value in out:
            raise ValueError(f"label_map lists value {value} twice")
        out[value] = category.strip()
    return out


@dataclass(frozen=True)
class LabelMap:
    """Decodes segmentation values (see the module docstring); build it with ``LabelMap.create``."""

    mode: str
    categories: tuple[str, ...]
    classes: dict[int, str] = field(default_factory=dict)
    _instance_of_class: dict[int, int] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, mode: str, label_map: str, categories: Sequence[str]) -> LabelMap:
        """Validate and build; raise ValueError listing every problem."""
        errors = []
        if mode not in MODES:
            errors.append(f"label_mode must be one of {list(MODES)}, got {mode!r}")
        try:
            classes = parse_label_map(label_map)
        except ValueError as exc:
            errors.append(str(exc))
            classes = {}
        unknown = sorted({c for c in classes.values() if c not in categories})
        if unknown:
            errors.append(f"label_map categories {unknown} are not in categories {list(categories)}")
        if mode in ("instance_ids", "semantic") and not classes and not errors:
            errors.append(f"label_mode '{mode}' needs a label_map ('<value>: <category>, ...')")
        bad = sorted(v for v in classes if v <= 0 or (mode == "instance_ids" and v >= LABEL_DIVISOR))
        if bad:
            top = LABEL_DIVISOR - 1 if mode == "instance_ids" else "..."
            errors.append(f"label_map values {bad} outside 1..{top} (0 is background)")
        if errors:
            raise ValueError("; ".join(errors))
        ranks: dict[str, int] = {}
        instance_of_class = {}
        for value in sorted(classes):
            ranks[classes[value]] = ranks.get(classes[value], 0) + 1
            instance_of_class[value] = ranks[classes[value]]
        return cls(mode, tuple(categories), classes, instance_of_class)

    @property
    def is_identity(self) -> bool:
        """True for the package's own panoptic encoding (labels pass through unchanged)."""
        return self.mode == "panoptic" and not self.classes

    def decode(self, value: int) -> tuple[str, int] | None:
        """Return (category, instance) of a non-zero segmentation value, or None if the map does not know it."""
        if self.mode == "panoptic":
            cls_key, instance = divmod(int(value), LABEL_DIVISOR)
            if self.classes:
                category = self.classes.get(cls_key)
            else:
                category = self.categories[cls_key - 1] if 1 <= cls_key <= len(self.categories) else None
            return (category, instance) if category is not None and value > 0 else None
        category = self.classes.get(int(value))
        if category is None:
            return None
        return category, int(value) if self.mode == "instance_ids" else self._instance_of_class[int(value)]

    def to_panoptic(self, labels: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Re-encode ``labels`` as ``category_index * 1000 + instance`` over ``categories``; unknown values -> 0.

        Returns the label image and the sorted unknown non-zero values. The identity map returns ``labels``
        itself (extract_instances reports indices outside the category list)."""
        if self.is_identity:
            return labels, []
        flat = labels.ravel()
        if flat.size and np.issubdtype(flat.dtype, np.integer) and flat.min() >= 0 and flat.max() < 1 << 20:
            present = np.flatnonzero(np.bincount(flat))  # small non-negative range: table lookup
            table = np.zeros(int(present[-1]) + 1, np.int32)
            unknown = self._fill(present, table, present)
            return table[labels], unknown
        values, inverse = np.unique(flat, return_inverse=True)
        out = np.zeros(len(values), np.int32)
        unknown = self._fill(values, out, np.arange(len(values)))
        return out[inverse].reshape(labels.shape), unknown

    def _fill(self, values: np.ndarray, table: np.ndarray, slots: np.ndarray) -> list[int]:
        unknown = []
        for value, slot in zip(values.tolist(), slots.tolist()):
            if value == 0:
                continue
            decoded = self.decode(value)
            if decoded is None:
                unknown.append(int(value))
            else:
                table[slot] = (self.categories.index(decoded[0]) + 1) * LABEL_DIVISOR + decoded[1]
        return unknown
