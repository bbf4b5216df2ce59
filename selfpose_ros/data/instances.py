"""Split a panoptic segmentation into object instances, with reasons for every instance skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selfpose_ros.conventions import LABEL_DIVISOR


class Skip(str):
    """Why an instance (or a label) gives no estimate: the text names it; ``kind`` is stable, for counting.

    Kinds: ``unknown_label``, ``small_mask`` (here), ``no_pose`` and ``low_confidence`` (the pipeline).
    """

    kind: str

    def __new__(cls, kind: str, text: str) -> Skip:
        """Return the reason ``text`` tagged with ``kind``."""
        obj = super().__new__(cls, text)
        obj.kind = kind
        return obj


@dataclass
class Instance:
    """One segmented object: its label, category, instance id, boolean mask and mask box (x0, y0, x1, y1)."""

    label: int
    category: str
    instance: int
    mask: np.ndarray
    box: tuple[int, int, int, int]

    @property
    def pixels(self) -> int:
        """Return the mask's pixel count."""
        return int(self.mask.sum())


def extract_instances(
    labels: np.ndarray,
    categories: Sequence[str],
    active: Sequence[str] | None = None,
    min_pixels: int = 1,
) -> tuple[list[Instance], list[Skip]]:
    """Return the instances of the ``active`` categories and a list of skip reasons (unknown labels, small masks)."""
    active_set = set(categories if active is None else active)
    values, counts = np.unique(labels, return_counts=True)
    instances, skipped = [], []
    for value, count in zip(values.tolist(), counts.tolist()):
        if value == 0:
            continue
        idx, inst = divmod(int(value), LABEL_DIVISOR)
        if idx < 1 or idx > len(categories):
            text = f"label {value}: category index {idx} is not in 1..{len(categories)}"
            skipped.append(Skip("unknown_label", text))
            continue
        category = categories[idx - 1]
        if category not in active_set:
            continue
        if count < min_pixels:
            text = f"{category}_{inst}: mask has {count} pixels < min_mask_pixels {min_pixels}"
            skipped.append(Skip("small_mask", text))
            continue
        mask = labels == value
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        instances.append(Instance(int(value), category, inst, mask, box))
    return instances, skipped
