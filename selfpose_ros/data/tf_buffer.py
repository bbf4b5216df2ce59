"""Offline TF buffer: static and time-stamped transforms of a bag, looked up by interpolation at any stamps.

Conventions follow tf2: an edge ``parent -> child`` stores ``T_parent_child`` (it maps points in ``child``
coordinates to ``parent`` coordinates); ``lookup(target, source, stamps)`` returns ``T_target_source``.
Between two samples of a dynamic edge the translation is interpolated linearly and the rotation by slerp;
static edges hold at all times. Stamps are integer nanoseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from selfpose_ros.data.stamps import header_stamp_ns
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np
from selfpose_ros.geometry.transforms import invert_rigid, rigid


class TfLookupError(ValueError):
    """A transform cannot be looked up: unknown frame, disconnected trees, or a stamp outside the data."""


class TfExtrapolationError(TfLookupError):
    """The stamp lies beyond a dynamic edge's first or last sample by more than the tolerance."""


def slerp_xyzw(q0: np.ndarray, q1: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions (..., 4) at fractions ``alpha`` (...); shortest arc."""
    q0 = q0 / np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 = q1 / np.linalg.norm(q1, axis=-1, keepdims=True)
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where((dot < 0)[..., None], -q1, q1)  # q and -q are the same rotation: take the short way
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    small = sin_theta < 1e-9
    safe = np.where(small, 1.0, sin_theta)
    w0 = np.where(small, 1.0 - alpha, np.sin((1.0 - alpha) * theta) / safe)
    w1 = np.where(small, alpha, np.sin(alpha * theta) / safe)
    q = w0[..., None] * q0 + w1[..., None] * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _clean(frame: str) -> str:
    """tf2 ignores a leading slash in frame names."""
    name = str(frame).lstrip("/")
    if not name:
        raise ValueError("empty frame name")
    return name


@dataclass
class _DynamicEdge:
    """Samples of one time-varying edge; sorted, de-duplicated arrays are built on first use."""

    stamps: list[int] = field(default_factory=list)
    translations: list[np.ndarray] = field(default_factory=list)
    quaternions: list[np.ndarray] = field(default_factory=list)
    _arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            stamps = np.asarray(self.stamps, dtype=np.int64)
            order = np.argsort(stamps, kind="stable")
            stamps = stamps[order]
            keep = np.ones(len(stamps), dtype=bool)  # a repeated stamp keeps its last sample
            keep[:-1] = stamps[1:] != stamps[:-1]
            self._arrays = (stamps[keep], np.asarray(self.translations)[order][keep],
                            np.asarray(self.quaternions)[order][keep])
        return self._arrays


class TfBuffer:
    """All transforms of a recording, for offline lookups at arbitrary stamps (batched)."""

    def __init__(self, tolerance_ns: int = 0):
        """``tolerance_ns``: how far beyond a dynamic edge's first/last sample a lookup may hold that sample."""
        if tolerance_ns < 0:
            raise ValueError(f"tolerance_ns must be >= 0, got {tolerance_ns}")
        self.tolerance_ns = int(tolerance_ns)
        self._parent: dict[str, str] = {}
        self._static: dict[str, np.ndarray] = {}
        self._dynamic: dict[str, _DynamicEdge] = {}

    @property
    def frames(self) -> set[str]:
        """All frame names the buffer knows."""
        return set(self._parent) | set(self._parent.values())

    def _set_parent(self, parent: str, child: str, static: bool) -> None:
        if parent == child:
            raise ValueError(f"transform from frame {parent!r} to itself")
        known = self._parent.get(child)
        if known is not None and known != parent:
            raise ValueError(f"frame {child!r} has two parents: {known!r} and {parent!r} (TF must be a tree)")
        if (static and child in self._dynamic) or (not static and child in self._static):
            raise ValueError(f"edge {parent!r} -> {child!r} is published both as static and as dynamic")
        self._parent[child] = parent

    def add_static(self, parent: str, child: str, T_parent_child: np.ndarray) -> None:
        """Add a time-independent edge; a later one for the same child replaces it (latched /tf_static)."""
        parent, child = _clean(parent), _clean(child)
        T = np.asarray(T_parent_child, dtype=np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise ValueError(f"static transform {parent!r} -> {child!r} must be a finite 4x4 matrix")
        self._set_parent(parent, child, static=True)
        self._static[child] = T

    def add_sample(self, parent: str, child: str, stamp_ns: int, translation: np.ndarray,
                   quaternion_xyzw: np.ndarray) -> None:
        """Add one sample of a time-varying edge (translation in metres, rotation as x, y, z, w)."""
        parent, child = _clean(parent), _clean(child)
        t = np.asarray(translation, dtype=np.float64).reshape(3)
        q = np.asarray(quaternion_xyzw, dtype=np.float64).reshape(4)
        if not (np.isfinite(t).all() and np.isfinite(q).all()) or np.linalg.norm(q) < 1e-9:
            raise ValueError(f"transform {parent!r} -> {child!r} at {stamp_ns} ns is not finite "
                             "or has a zero quaternion")
        self._set_parent(parent, child, static=False)
        edge = self._dynamic.setdefault(child, _DynamicEdge())
        edge.stamps.append(int(stamp_ns))
        edge.translations.append(t)
        edge.quaternions.append(q / np.linalg.norm(q))
        edge._arrays = None

    def add_tf_message(self, msg, static: bool) -> None:
        """Add every transform of a tf2_msgs/TFMessage (as deserialised by rosbags)."""
        for ts in msg.transforms:
            tr, rot = ts.transform.translation, ts.transform.rotation
            t, q = (tr.x, tr.y, tr.z), (rot.x, rot.y, rot.z, rot.w)
            if static:
                self.add_static(ts.header.frame_id, ts.child_frame_id,
                                rigid(quaternion_to_matrix_np(np.array(q)), np.array(t)))
            else:
                stamp = header_stamp_ns(ts.header)
                self.add_sample(ts.header.frame_id, ts.child_frame_id, stamp, t, q)

    def add_pose_stamped(self, msg, child: str) -> None:
        """Add a geometry_msgs/PoseStamped as a sample of edge ``header.frame_id -> child``."""
        p, o = msg.pose.position, msg.pose.orientation
        stamp = header_stamp_ns(msg.header)
        self.add_sample(msg.header.frame_id, child, stamp, (p.x, p.y, p.z), (o.x, o.y, o.z, o.w))

    def time_range(self, child: str) -> tuple[int, int] | None:
        """First and last stamp of the dynamic edge ending at ``child`` (None for static edges)."""
        child = _clean(child)
        if child not in self._dynamic:
            return None
        stamps = self._dynamic[child].arrays()[0]
        return int(stamps[0]), int(stamps[-1])

    def _chain(self, frame: str) -> list[str]:
        """``frame`` and its ancestors up to the root."""
        chain = [frame]
        while chain[-1] in self._parent:
            chain.append(self._parent[chain[-1]])
            if len(chain) > len(self._parent) + 1:
                raise ValueError(f"TF cycle through frame {frame!r}")
        return chain

    def _edge(self, child: str, stamps: np.ndarray) -> np.ndarray:
        """T_parent_child (N, 4, 4) at ``stamps`` (N,)."""
        if child in self._static:
            return np.broadcast_to(self._static[child], (len(stamps), 4, 4))
        times, trans, quats = self._dynamic[child].arrays()
        lo_bad = stamps < times[0] - self.tolerance_ns
        hi_bad = stamps > times[-1] + self.tolerance_ns
        if np.any(lo_bad | hi_bad):
            bad = int(stamps[lo_bad | hi_bad][0])
            raise TfExtrapolationError(
                f"extrapolation: edge {self._parent[child]!r} -> {child!r} has data for "
                f"[{times[0]}, {times[-1]}] ns, asked for {bad} ns (tolerance {self.tolerance_ns} ns)")
        clamped = np.clip(stamps, times[0], times[-1])
        hi = np.clip(np.searchsorted(times, clamped, side="left"), 0, len(times) - 1)
        lo = np.clip(hi - 1, 0, None)
        exact = times[hi] == clamped
        lo = np.where(exact, hi, lo)
        span = (times[hi] - times[lo]).astype(np.float64)
        alpha = np.where(span > 0, (clamped - times[lo]).astype(np.float64) / np.where(span > 0, span, 1.0), 0.0)
        t = trans[lo] + alpha[:, None] * (trans[hi] - trans[lo])
        q = slerp_xyzw(quats[lo], quats[hi], alpha)
        return rigid(quaternion_to_matrix_np(q), t)

    def _to_root(self, chain: list[str], stop: str, stamps: np.ndarray) -> np.ndarray:
        """T_stop_frame for the frame chain[0], composing edges up to ancestor ``stop``."""
        T = np.broadcast_to(np.eye(4), (len(stamps), 4, 4)).copy()
        for child in chain:
            if child == stop:
                break
            T = self._edge(child, stamps) @ T
        return T

    def lookup(self, target: str, source: str, stamps_ns: np.ndarray | int | Iterable[int]) -> np.ndarray:
        """T_target_source at each stamp: shape (..., 4, 4) for stamps of shape (...)."""
        target, source = _clean(target), _clean(source)
        stamps = np.asarray(stamps_ns)
        if stamps.dtype.kind not in "iu":
            raise ValueError(f"stamps must be integer nanoseconds, got dtype {stamps.dtype}")
        shape, flat = stamps.shape, stamps.astype(np.int64).reshape(-1)
        for frame in (target, source):
            if frame not in self.frames:
                raise TfLookupError(f"unknown frame {frame!r}; known frames: {sorted(self.frames)}")
        up_source, up_target = self._chain(source), self._chain(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise TfLookupError(f"frames {source!r} (root {up_source[-1]!r}) and {target!r} "
                                f"(root {up_target[-1]!r}) are in disconnected TF trees")
        T_common_source = self._to_root(up_source, common, flat)
        T_common_target = self._to_root(up_target, common, flat)
        return (invert_rigid(T_common_target) @ T_common_source).reshape(shape + (4, 4))
