"""JSON-lines files of object poses (predictions or ground truth), with validation.

One JSON object per line (blank lines and lines starting with ``#`` are skipped)::

    {"frame": [sec, nanosec], "category": "mug", "instance": 3, "score": 0.9,
     "R": [[...], [...], [...]], "t": [x, y, z], "size": [sx, sy, sz], "visibility": 0.8}

- ``frame``: the image stamp as two non-negative integers (nanosec < 1e9); it identifies the frame.
- ``R``: 3x3 rotation canonical -> camera optical frame, as rows; must be orthonormal with det +1.
- ``t``: object centre in the camera optical frame, metres. ``size``: metric extents along canonical x, y, z.
- ``score``: detection confidence, required for predictions (optional for ground truth, default 1).
- ``visibility``: fraction of the object visible in [0, 1], required for ground truth.
- ``fused``, ``fused_views``, ``view_span_deg`` (optional, predictions of ``selfpose predict --fuse``): whether
  the pose is a fit of the multi-view fused cloud, how many frames were fused, and the angular span of their
  view directions in degrees.
- ``handle_visible`` (optional, mugs): whether the handle shows. On ground truth the evaluator then scores a
  mug without a visible handle as symmetric about +Y (the NOCS convention); on predictions it is the model's
  own flag (``extras.handle_visible``).
Errors name the file and line: ``gt.jsonl:12: field 'R' ...``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Frame = tuple[int, int]
_ROTATION_TOL = 1e-3


@dataclass(frozen=True)
class ObjectRecord:
    """One object's pose and size in one frame (a prediction or a ground-truth annotation)."""

    frame: Frame
    category: str
    instance: int
    score: float
    R: np.ndarray  # (3, 3)
    t: np.ndarray  # (3,) metres
    size: np.ndarray  # (3,) metres
    visibility: float | None = None
    fused: bool | None = None  #: multi-view fusion: the pose is a fit of the fused cloud
    fused_views: int | None = None  #: frames fused into the object's track
    view_span_deg: float | None = None  #: angular span of the track's view directions, degrees
    handle_visible: bool | None = None  #: mugs: the handle shows (ground truth: annotated; predictions: the model's)

    @classmethod
    def of_estimate(cls, frame: Frame, est) -> ObjectRecord:
        """The prediction record of an ObjectPoseEstimate (fusion fields only when fusion saw it: views > 0)."""
        fusion = est.fused_views > 0
        handle = est.extras.get("handle_visible")
        return cls(frame, est.category, est.instance, float(est.confidence), est.R, est.t, est.size, None,
                   bool(est.fused) if fusion else None, int(est.fused_views) if fusion else None,
                   float(est.view_span_deg) if fusion else None, None if handle is None else bool(handle))

    def to_json(self) -> dict:
        """Return the JSON-serialisable dict of this record (the line format above)."""
        out = {"frame": [int(self.frame[0]), int(self.frame[1])], "category": self.category,
               "instance": int(self.instance), "score": float(self.score),
               "R": np.asarray(self.R, dtype=float).tolist(), "t": np.asarray(self.t, dtype=float).tolist(),
               "size": np.asarray(self.size, dtype=float).tolist()}
        if self.visibility is not None:
            out["visibility"] = float(self.visibility)
        if self.fused is not None:
            out.update(fused=bool(self.fused), fused_views=int(self.fused_views or 0),
                       view_span_deg=float(self.view_span_deg or 0.0))
        if self.handle_visible is not None:
            out["handle_visible"] = bool(self.handle_visible)
        return out


def _number(value, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: field '{field}' must be a finite number, got {value!r}")
    return float(value)


def _array(value, shape: tuple[int, ...], where: str, field: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: field '{field}' must be numbers of shape {shape}, got {value!r}") from None
    if arr.shape != shape:
        raise ValueError(f"{where}: field '{field}' must have shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: field '{field}' contains a non-finite value")
    return arr


def parse_record(obj: object, where: str, require_score: bool, require_visibility: bool) -> ObjectRecord:
    """Validate one decoded JSON object and return its :class:`ObjectRecord`; ``where`` prefixes errors."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    required = ["frame", "category", "instance", "R", "t", "size"]
    required += ["score"] if require_score else []
    required += ["visibility"] if require_visibility else []
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    frame = obj["frame"]
    if (not isinstance(frame, list) or len(frame) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in frame)
            or frame[0] < 0 or not 0 <= frame[1] < 1_000_000_000):
        raise ValueError(f"{where}: field 'frame' must be [sec, nanosec] integers (0 <= nanosec < 1e9), "
                         f"got {frame!r}")
    category = obj["category"]
    if not isinstance(category, str) or not category:
        raise ValueError(f"{where}: field 'category' must be a non-empty string, got {category!r}")
    instance = obj["instance"]
    if isinstance(instance, bool) or not isinstance(instance, int) or instance < 0:
        raise ValueError(f"{where}: field 'instance' must be a non-negative integer, got {instance!r}")
    R = _array(obj["R"], (3, 3), where, "R")
    if np.abs(R.T @ R - np.eye(3)).max() > _ROTATION_TOL or abs(np.linalg.det(R) - 1.0) > _ROTATION_TOL:
        raise ValueError(f"{where}: field 'R' is not a rotation (orthonormal, det +1 within {_ROTATION_TOL})")
    t = _array(obj["t"], (3,), where, "t")
    size = _array(obj["size"], (3,), where, "size")
    if not (size > 0).all():
        raise ValueError(f"{where}: field 'size' must be positive metres, got {size.tolist()}")
    score = _number(obj.get("score", 1.0), where, "score")
    visibility = None
    if "visibility" in obj:
        visibility = _number(obj["visibility"], where, "visibility")
        if not 0.0 <= visibility <= 1.0:
            raise ValueError(f"{where}: field 'visibility' must be in [0, 1], got {visibility}")
    fused = obj.get("fused")
    if fused is not None and not isinstance(fused, bool):
        raise ValueError(f"{where}: field 'fused' must be true or false, got {fused!r}")
    views = obj.get("fused_views")
    if views is not None and (isinstance(views, bool) or not isinstance(views, int) or views < 0):
        raise ValueError(f"{where}: field 'fused_views' must be a non-negative integer, got {views!r}")
    span = obj.get("view_span_deg")
    if span is not None:
        span = _number(span, where, "view_span_deg")
        if not 0.0 <= span <= 180.0:
            raise ValueError(f"{where}: field 'view_span_deg' must be in [0, 180] degrees, got {span}")
    handle = obj.get("handle_visible")
    if handle is not None and not isinstance(handle, bool):
        raise ValueError(f"{where}: field 'handle_visible' must be true or false, got {handle!r}")
    return ObjectRecord((frame[0], frame[1]), category, instance, score, R, t, size, visibility, fused, views, span,
                        handle)


def read_records(path: str | Path, *, require_score: bool = True,
                 require_visibility: bool = False) -> list[ObjectRecord]:
    """Read and validate a JSON-lines file of records; raise ValueError naming the line on bad input."""
    path = Path(path)
    records = []
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None
            records.append(parse_record(obj, where, require_score, require_visibility))
    return records


def read_predictions(path: str | Path) -> list[ObjectRecord]:
    """Read predictions (``score`` required)."""
    return read_records(path, require_score=True, require_visibility=False)


def read_ground_truth(path: str | Path) -> list[ObjectRecord]:
    """Read ground truth (``visibility`` required, ``score`` optional)."""
    return read_records(path, require_score=False, require_visibility=True)


def write_records(path: str | Path, records: Iterable[ObjectRecord]) -> None:
    """Write records as JSON lines (one object per line)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec.to_json()) + "\n")
