"""TF lookups at a stamp: tf2_ros when it imports, otherwise our own /tf + /tf_static listener.

``TfListener.lookup(target, source, stamp_ns)`` returns ``T_target_source`` (4x4: maps points in ``source``
coordinates to ``target``), interpolated at the stamp, or raises :class:`TransformLookupError`
(a LookupError) naming the problem. The fallback stores transforms in the offline
:class:`selfpose_ros.data.tf_buffer.TfBuffer` (linear translation, slerp rotation, static edges at all
times), kept to the last ``cache_s`` seconds by rolling two buffers: every transform goes into both, the
older one answers lookups, and it is replaced when the younger one holds ``cache_s`` of history.

TF arrives on its own callback group (``TfListener.callback_group``), so a node spun by a MultiThreadedExecutor
receives TF on another thread than its images: heavy image callbacks cannot hold TF back (docs/recorder.md,
"Camera pose and TF"). The listener also subscribes /tf a second time,
best effort (``prompt``): a reliable reader hands samples over in order, so one sample lost on a loaded machine
holds back every later one until the writer resends it (Fast DDS: up to its 3 s heartbeat period); the
best-effort copy delivers the later samples at once, and lookups interpolate across the missing one. The
reliable subscription still fills the gap when the resend comes; a message received twice (the same bytes on both
subscriptions) is taken once.

Both back-ends receive TF through the listener's own subscriptions: the tf2_ros back-end stores it in a
``tf2_ros.Buffer`` with ``set_transform`` (what ``tf2_ros.TransformListener`` does). ``on_message(msg, data,
static)`` is told of every message before lookups can see it, so a node that records TF (trajectory_recorder)
writes exactly the TF its lookups used, and never less.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from tf2_msgs.msg import TFMessage

from selfpose_ros.data.stamps import stamp_to_ns
from selfpose_ros.data.tf_buffer import TfBuffer
from selfpose_ros.geometry.rotations import quaternion_to_matrix_np
from selfpose_ros.geometry.transforms import rigid
from selfpose_ros.ros.tf_broadcast import TF_QOS, TF_STATIC_QOS

try:
    import tf2_ros as _tf2_ros
except ImportError:  # PyPI wheels: no tf2_ros
    _tf2_ros = None


#: The second, best-effort /tf subscription (see the module docstring).
TF_PROMPT_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)


class TransformLookupError(LookupError):
    """No transform between two frames at the requested stamp (unknown frame, no data yet, too old...)."""


def transform_to_matrix(transform: Any) -> np.ndarray:
    """4x4 matrix of a geometry_msgs/Transform."""
    tr, q = transform.translation, transform.rotation
    return rigid(quaternion_to_matrix_np(np.array([q.x, q.y, q.z, q.w], dtype=np.float64)),
                 np.array([tr.x, tr.y, tr.z], dtype=np.float64))


class RollingTfBuffer:
    """The fallback's storage: static edges forever, dynamic samples of the last ``cache_s`` seconds."""

    def __init__(self, cache_s: float = 10.0) -> None:
        if not cache_s > 0:
            raise ValueError(f"cache_s must be > 0 seconds, got {cache_s}")
        self.cache_ns = int(cache_s * 1e9)
        # the executor thread adds while worker threads look up: TfBuffer builds its sorted arrays lazily
        self._lock = threading.RLock()
        self._static: dict[str, tuple[str, np.ndarray]] = {}
        self._buffers: list[TfBuffer] = [TfBuffer()]
        self._young_start_ns: int | None = None
        self._newest_ns: int | None = None

    def _fresh(self) -> TfBuffer:
        buf = TfBuffer()
        for child, (parent, T) in self._static.items():
            buf.add_static(parent, child, T)
        return buf

    def add_static(self, parent: str, child: str, T: np.ndarray) -> None:
        """Add (or replace) a static edge ``parent -> child``."""
        with self._lock:
            self._add_static(parent, child, T)

    def _add_static(self, parent: str, child: str, T: np.ndarray) -> None:
        for buf in self._buffers:
            buf.add_static(parent, child, T)
        self._static[child.lstrip("/")] = (parent.lstrip("/"), np.asarray(T, dtype=np.float64))

    def add_sample(self, parent: str, child: str, stamp_ns: int, translation: np.ndarray,
                   quaternion_xyzw: np.ndarray) -> None:
        """Add one sample of a dynamic edge; a stamp older than the cache resets the history (clock reset)."""
        with self._lock:
            self._add_sample(parent, child, int(stamp_ns), translation, quaternion_xyzw)

    def _add_sample(self, parent: str, child: str, stamp_ns: int, translation: np.ndarray,
                    quaternion_xyzw: np.ndarray) -> None:
        if self._newest_ns is not None and stamp_ns < self._newest_ns - self.cache_ns:
            self._buffers, self._young_start_ns, self._newest_ns = [self._fresh()], None, None
        self._newest_ns = stamp_ns if self._newest_ns is None else max(self._newest_ns, stamp_ns)
        if self._young_start_ns is None:
            self._young_start_ns = stamp_ns
        elif self._newest_ns - self._young_start_ns >= self.cache_ns:
            self._buffers = [self._buffers[-1], self._fresh()]
            self._young_start_ns = self._newest_ns
        for buf in self._buffers:
            buf.add_sample(parent, child, stamp_ns, translation, quaternion_xyzw)

    def add_message(self, msg: Any, static: bool) -> list[str]:
        """Add every transform of a tf2_msgs/TFMessage; return one error text per rejected transform."""
        errors = []
        for ts in msg.transforms:
            try:
                if static:
                    self.add_static(ts.header.frame_id, ts.child_frame_id, transform_to_matrix(ts.transform))
                else:
                    tr, q = ts.transform.translation, ts.transform.rotation
                    self.add_sample(ts.header.frame_id, ts.child_frame_id, stamp_to_ns(ts.header.stamp),
                                    np.array([tr.x, tr.y, tr.z]), np.array([q.x, q.y, q.z, q.w]))
            except ValueError as exc:
                errors.append(f"transform {ts.header.frame_id!r} -> {ts.child_frame_id!r} rejected: {exc}")
        return errors

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """T_target_source at ``stamp_ns``; raise TransformLookupError."""
        if target.lstrip("/") == source.lstrip("/"):
            return np.eye(4)
        try:
            with self._lock:
                return self._buffers[0].lookup(target, source, int(stamp_ns))
        except ValueError as exc:  # TfLookupError and bad frame names
            raise TransformLookupError(str(exc)) from None


class TfListener:
    """Answers ``lookup(target, source, stamp_ns)`` from TF received by ``node``."""

    #: How many recent /tf messages are remembered to take a message received twice only once.
    SEEN_MESSAGES = 4096

    def __init__(self, node: Node, *, cache_s: float = 10.0, use_tf2_ros: bool | None = None,
                 on_error: Callable[[str], None] | None = None, prompt: bool = True,
                 on_message: Callable[[TFMessage, bytes, bool], None] | None = None) -> None:
        use = (_tf2_ros is not None) if use_tf2_ros is None else use_tf2_ros
        if use and _tf2_ros is None:
            raise RuntimeError("tf2_ros was requested but is not importable")
        self.backend = "tf2_ros" if use else "selfpose_ros"
        self._on_error = on_error or (lambda text: node.get_logger().warning(text))
        self._on_message = on_message
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        if use:
            from rclpy.duration import Duration

            self._tf2_buffer = _tf2_ros.Buffer(cache_time=Duration(seconds=cache_s))
        else:
            self.buffer = RollingTfBuffer(cache_s)
        self.callback_group = group = MutuallyExclusiveCallbackGroup()
        self._subs = [
            node.create_subscription(TFMessage, "/tf", lambda d: self._receive(d, False), TF_QOS, raw=True,
                                     callback_group=group),
            node.create_subscription(TFMessage, "/tf_static", lambda d: self._receive(d, True), TF_STATIC_QOS,
                                     raw=True, callback_group=group),
        ]
        if prompt:
            self._subs.append(node.create_subscription(TFMessage, "/tf", lambda d: self._receive(d, False),
                                                       TF_PROMPT_QOS, raw=True, callback_group=group))

    def _receive(self, data: bytes, static: bool) -> None:
        data = bytes(data)
        if not static:  # the same message on the reliable and the best-effort subscription: take it once
            if data in self._seen:
                return
            self._seen[data] = None
            if len(self._seen) > self.SEEN_MESSAGES:
                self._seen.popitem(last=False)
        msg = deserialize_message(data, TFMessage)
        if self._on_message is not None:
            self._on_message(msg, data, static)
        for text in self._store(msg, static):
            self._on_error(text)

    def _store(self, msg: TFMessage, static: bool) -> list[str]:
        if self.backend != "tf2_ros":
            return self.buffer.add_message(msg, static)
        errors = []
        for ts in msg.transforms:
            try:
                if static:
                    self._tf2_buffer.set_transform_static(ts, "default_authority")
                else:
                    self._tf2_buffer.set_transform(ts, "default_authority")
            except Exception as exc:  # tf2 rejects NaN, empty or self-referencing frames
                errors.append(f"transform {ts.header.frame_id!r} -> {ts.child_frame_id!r} rejected: {exc}")
        return errors

    def lookup(self, target: str, source: str, stamp_ns: int, timeout: float = 0.0) -> np.ndarray:
        """T_target_source (4x4) at ``stamp_ns``; wait up to ``timeout`` s for data (only useful when another
        thread receives TF, e.g. a MultiThreadedExecutor); raise TransformLookupError."""
        if self.backend == "tf2_ros":
            return self._lookup_tf2(target, source, stamp_ns, timeout)
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                return self.buffer.lookup(target, source, stamp_ns)
            except TransformLookupError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def _lookup_tf2(self, target: str, source: str, stamp_ns: int, timeout: float) -> np.ndarray:
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            ts = self._tf2_buffer.lookup_transform(target, source, Time(nanoseconds=int(stamp_ns)),
                                                   timeout=Duration(seconds=max(0.0, timeout)))
        except _tf2_ros.TransformException as exc:
            raise TransformLookupError(f"{type(exc).__name__}: {exc}") from None
        return transform_to_matrix(ts.transform)
