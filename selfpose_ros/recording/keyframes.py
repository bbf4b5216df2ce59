"""Keyframe gating and trajectory segments: which camera frames a recording keeps, and where a path breaks.

A frame arrives with its camera pose ``T`` (fixed frame <- camera, 4x4) at the image stamp and the pose
``T_before`` at ``stamp - blur_dt``. In order:

1. **Blur**: the camera's linear or angular speed over ``[stamp - blur_dt, stamp]`` above its limit drops
   the frame (reason ``blurred``). Every other frame is a *candidate*.
2. **First**: the first candidate of a recording is kept and opens segment 0.
3. **Gap**: more than ``max_gap`` seconds since the previous candidate (or a stamp older than it) keeps
   the frame and opens a new segment (``gap`` / ``time_reversal``).
4. **Jump**: a translation or rotation from the last keyframe above the jump thresholds keeps the frame and
   opens a new segment (``jump``): a relocalisation or a stretch of blurred frames broke the smooth path.
5. **Motion**: moved more than ``min_translation`` or turned more than ``min_rotation_deg`` since the last
   keyframe keeps it (``translation`` / ``rotation``); otherwise it is dropped (``too_close``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.geometry.rotations import relative_rotation_angle_np

KEEP_REASONS = ("first", "gap", "time_reversal", "jump", "translation", "rotation")
DROP_REASONS = ("blurred", "too_close")


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the keyframe gate (metres, degrees, seconds)."""

    min_translation: float = 0.05
    min_rotation_deg: float = 5.0
    max_linear_speed: float = 0.5
    max_angular_speed_deg: float = 45.0
    blur_dt: float = 0.033
    max_gap: float = 1.0
    jump_translation: float = 0.25
    jump_rotation_deg: float = 30.0

    def validate(self) -> None:
        """Raise ValueError listing every bad threshold."""
        errors = []
        for name in ("min_translation", "min_rotation_deg", "max_linear_speed", "max_angular_speed_deg",
                     "blur_dt", "max_gap", "jump_translation", "jump_rotation_deg"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                errors.append(f"{name} must be a finite number > 0, got {value!r}")
        if not errors:
            if self.jump_translation <= self.min_translation:
                errors.append(f"jump_translation ({self.jump_translation}) must exceed min_translation "
                              f"({self.min_translation})")
            if self.jump_rotation_deg <= self.min_rotation_deg:
                errors.append(f"jump_rotation_deg ({self.jump_rotation_deg}) must exceed min_rotation_deg "
                              f"({self.min_rotation_deg})")
        if errors:
            raise ValueError("invalid keyframe gate: " + "; ".join(errors))


@dataclass(frozen=True)
class GateDecision:
    """What the gate did with one frame, and the motion it measured."""

    keep: bool
    reason: str
    segment: int  # segment of the kept frame; the current segment for a dropped one (-1 before any)
    new_segment: bool
    translation: float  # metres since the last keyframe (0 for the first)
    rotation_deg: float  # degrees since the last keyframe (0 for the first)
    linear_speed: float  # m/s over [stamp - blur_dt, stamp]
    angular_speed_deg: float  # deg/s over the same interval


def relative_motion(T_a: np.ndarray, T_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-centre distance (metres) and rotation angle (degrees) between poses (..., 4, 4)."""
    T_a, T_b = np.asarray(T_a, dtype=np.float64), np.asarray(T_b, dtype=np.float64)
    if T_a.shape[-2:] != (4, 4) or T_b.shape[-2:] != (4, 4):
        raise ValueError(f"poses must have shape (..., 4, 4), got {T_a.shape} and {T_b.shape}")
    translation = np.linalg.norm(T_b[..., :3, 3] - T_a[..., :3, 3], axis=-1)
    rotation = np.degrees(relative_rotation_angle_np(T_a[..., :3, :3], T_b[..., :3, :3]))
    return translation, rotation


def _check_pose(T: np.ndarray, name: str) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise ValueError(f"{name} must be a finite 4x4 matrix, got shape {T.shape}")
    return T


@dataclass
class KeyframeGate:
    """Stateful gate over one recording: call :meth:`decide` for each frame in stamp order."""

    config: GateConfig
    counts: dict[str, int] = field(default_factory=dict)
    segment: int = -1
    _last_key_pose: np.ndarray | None = None
    _last_candidate_ns: int | None = None

    def __post_init__(self) -> None:
        self.config.validate()

    def reset(self) -> None:
        """Forget everything: the next candidate is the first keyframe of segment 0."""
        self.counts.clear()
        self.segment = -1
        self._last_key_pose = None
        self._last_candidate_ns = None

    @property
    def kept(self) -> int:
        """Number of keyframes kept so far."""
        return sum(self.counts.get(r, 0) for r in KEEP_REASONS)

    def decide(self, stamp_ns: int, T: np.ndarray, T_before: np.ndarray) -> GateDecision:
        """Keep or drop the frame at ``stamp_ns`` with pose ``T`` and pose ``T_before`` at stamp - blur_dt."""
        c = self.config
        T, T_before = _check_pose(T, "T"), _check_pose(T_before, "T_before")
        moved, turned = relative_motion(T_before, T)
        v, w = float(moved) / c.blur_dt, float(turned) / c.blur_dt
        if v > c.max_linear_speed or w > c.max_angular_speed_deg:
            return self._result(False, "blurred", False, 0.0, 0.0, v, w)
        last_ns, self._last_candidate_ns = self._last_candidate_ns, int(stamp_ns)
        if self._last_key_pose is None:
            return self._keep(T, "first", True, 0.0, 0.0, v, w)
        d, r = (float(x) for x in relative_motion(self._last_key_pose, T))
        if last_ns is not None and stamp_ns < last_ns:
            return self._keep(T, "time_reversal", True, d, r, v, w)
        if last_ns is not None and (stamp_ns - last_ns) * 1e-9 > c.max_gap:
            return self._keep(T, "gap", True, d, r, v, w)
        if d > c.jump_translation or r > c.jump_rotation_deg:
            return self._keep(T, "jump", True, d, r, v, w)
        if d > c.min_translation:
            return self._keep(T, "translation", False, d, r, v, w)
        if r > c.min_rotation_deg:
            return self._keep(T, "rotation", False, d, r, v, w)
        return self._result(False, "too_close", False, d, r, v, w)

    def _keep(self, T: np.ndarray, reason: str, new_segment: bool, d: float, r: float, v: float,
              w: float) -> GateDecision:
        self._last_key_pose = T.copy()
        if new_segment:
            self.segment += 1
        return self._result(True, reason, new_segment, d, r, v, w)

    def _result(self, keep: bool, reason: str, new_segment: bool, d: float, r: float, v: float,
                w: float) -> GateDecision:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        return GateDecision(keep, reason, self.segment, new_segment, d, r, v, w)
