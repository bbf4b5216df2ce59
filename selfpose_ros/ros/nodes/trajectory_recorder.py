"""trajectory_recorder: records smooth viewpoint trajectories (keyframes + camera poses) into MCAP rosbag2 bags.

Thin by design: gating lives in selfpose_ros.recording.keyframes, bag writing (splitting, crash safety) in
selfpose_ros.recording.recorder, TF lookups in selfpose_ros.ros.tf_listener. Inputs: the image topics and
camera_info (relative, approximately synchronised), /tf, /tf_static. Services: ~/start, ~/stop, ~/status
(std_srvs/Trigger; status answers JSON). Each kept keyframe is also published on ~/keyframes (JSON), and the
counts on /diagnostics. Threads: TF has its own callback group (the TfListener's), images, services and timers
the node's default one; a MultiThreadedExecutor runs them side by side, so image traffic cannot hold TF back.
The bag's /tf is what the lookups received: the listener hands each message to an inbox before lookups can
use it, and the inbox goes into the bag before each keyframe, so every keyframe's TF is in the bag before it.
One lock serialises everything that touches the bag. docs/recorder.md has the details.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage

from selfpose_ros.data.stamps import stamp_to_ns
from selfpose_ros.recording.bag_writer import BagWriteError
from selfpose_ros.recording.keyframes import GateConfig, KeyframeGate
from selfpose_ros.recording.output_dir import OutputDirError
from selfpose_ros.recording.recorder import BagRecorder, KeyframeRecord, RecorderConfig
from selfpose_ros.recording.tf_wait import TfWaitQueue
from selfpose_ros.ros.node_runner import run_node
from selfpose_ros.ros.params import TrajectoryRecorderParams, load_params
from selfpose_ros.ros.recorder_diagnostics import recorder_diagnostics
from selfpose_ros.ros.sync_subscribers import SyncedSubscribers, incompatible_qos_warning
from selfpose_ros.ros.tf_listener import TfListener
from selfpose_ros.ros.throttled_warnings import ThrottledWarnings


class TrajectoryRecorder(Node):
    """Keeps frames whose viewpoint changed enough and writes them, their poses and TF into split bags."""

    def __init__(self) -> None:
        super().__init__("trajectory_recorder")
        p = self.params = load_params(self, TrajectoryRecorderParams)
        gate_config = p.gate_config()
        self.gate = KeyframeGate(gate_config)
        self.image_topics = [self.resolve_topic_name(t) for t in p.image_topics]
        self.info_topic = self.resolve_topic_name(p.camera_info_topic)
        self.recorder = BagRecorder(RecorderConfig(
            output_dir=Path(p.output_dir).expanduser(), prefix=p.bag_prefix,
            max_bag_bytes=int(p.max_bag_size_mb * 1e6), max_bag_duration_ns=int(p.max_bag_duration_s * 1e9),
            chunk_period_ns=int(p.chunk_period_s * 1e9), metadata_period_ns=int(p.metadata_period_s * 1e9),
            compression=p.compression, min_free_bytes=int(p.min_free_space_mb * 1e6)), self._description(gate_config))
        self.warnings = ThrottledWarnings(self, p.warn_period)
        self._lock = threading.RLock()  # the bag, the gate and the wait queue: images, services, timer, TF for the bag
        # TF: its own callback group (TfListener makes it), never waits for the lock; each message goes to the
        # inbox (receipt time, message, CDR, static) before lookups see it, and from there into the bag
        self._tf_inbox: deque[tuple[int, TFMessage, bytes, bool]] = deque()
        self.tf = TfListener(self, cache_s=p.tf_cache_s, on_error=lambda text: self.warnings.warn("tf_rejected", text),
                             on_message=lambda msg, data, static: self._tf_inbox.append(
                                 (self._now_ns(), msg, data, static)))
        self.waiting: TfWaitQueue[tuple, tuple] = TfWaitQueue(p.tf_timeout, max_len=max(30, 4 * p.sync_queue))
        self.stats = {"frames_received": 0, "tf_unavailable": 0, "tf_queue_full": 0, "ignored_not_recording": 0}
        self._static: dict[str, Any] = {}
        qos = qos_profile_sensor_data if p.image_qos == "sensor_data" else \
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        types = [Image] * len(p.image_topics) + [CameraInfo]
        self.sync = SyncedSubscribers(self, list(zip(types, [*p.image_topics, p.camera_info_topic])), qos,
                                      p.sync_queue, p.sync_slop, self._on_frame,
                                      on_incompatible_qos=self._on_incompatible_qos)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_keyframes = self.create_publisher(String, "~/keyframes", QoSProfile(depth=100))
        self.create_service(Trigger, "~/start", self._srv_start)
        self.create_service(Trigger, "~/stop", self._srv_stop)
        self.create_service(Trigger, "~/status", self._srv_status)
        self.create_timer(0.05, self._tick)
        self.create_timer(1.0, self._diagnostics)
        self.get_logger().info(f"recording {self.image_topics} + {self.info_topic} in '{p.fixed_frame}' to "
                               f"{self.recorder.config.output_dir} (TF via {self.tf.backend}, sync via "
                               f"{self.sync.backend})")
        if p.autostart:
            ok, message = self._start()
            if not ok:
                raise ValueError(f"autostart failed: {message}")

    def _description(self, gate: GateConfig) -> dict[str, Any]:
        p = self.params
        return {"format": "selfpose_ros trajectory bag v1", "node": self.get_fully_qualified_name(),
                "fixed_frame": p.fixed_frame, "image_topics": self.image_topics, "camera_info_topic": self.info_topic,
                "categories": list(p.categories), "gate": dataclasses.asdict(gate),
                "max_bag_size_mb": p.max_bag_size_mb, "max_bag_duration_s": p.max_bag_duration_s}

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # -- inputs ----------------------------------------------------------------------------------------

    def _on_frame(self, *msgs: Any) -> None:
        with self._lock:
            if not self.recorder.recording:
                self.stats["ignored_not_recording"] += 1
                return
            self.stats["frames_received"] += 1
            if self.waiting.push(msgs, time.monotonic()) is not None:
                self.stats["tf_queue_full"] += 1
                self.warnings.warn("tf_queue_full", f"frames arrive faster than their TF: dropped the oldest of "
                                   f"{self.waiting.max_len} frames waiting for TF")
            self._drain()

    def _on_incompatible_qos(self, topic: str) -> None:
        self.warnings.warn("incompatible_qos", incompatible_qos_warning(topic, self.params.image_qos))

    def _take_tf(self) -> None:
        """Hand the TF received so far to the recorder (the bag when recording, the pre-roll history always)."""
        with self._lock:
            while self._tf_inbox:
                now_ns, msg, data, static = self._tf_inbox.popleft()
                if not static:
                    self._guard(self.recorder.on_tf, data, now_ns)
                    continue
                for ts in msg.transforms:
                    self._static[ts.child_frame_id] = ts
                combined = serialize_message(TFMessage(transforms=list(self._static.values())))
                self._guard(self.recorder.on_tf_static, data, combined, now_ns)

    def _lookup(self, msgs: tuple) -> tuple:
        header = msgs[0].header
        stamp = stamp_to_ns(header.stamp)
        T = self.tf.lookup(self.params.fixed_frame, header.frame_id, stamp)
        T_before = self.tf.lookup(self.params.fixed_frame, header.frame_id, stamp - int(self.params.blur_dt * 1e9))
        return T, T_before

    def _drain(self, final: bool = False) -> None:
        for res in self.waiting.drain(self._lookup, time.monotonic(), final=final):
            if not self.recorder.recording:
                return
            if res.error is not None:
                self.stats["tf_unavailable"] += 1
                self.warnings.warn("tf_unavailable", f"no camera pose '{self.params.fixed_frame}' <- "
                                   f"'{res.item[0].header.frame_id}' within tf_timeout ({self.params.tf_timeout} s), "
                                   f"frame dropped: {res.error}")
                continue
            self._gate(res.item, *res.result)

    def _gate(self, msgs: tuple, T: Any, T_before: Any) -> None:
        header = msgs[0].header
        stamp = stamp_to_ns(header.stamp)
        d = self.gate.decide(stamp, T, T_before)
        if not d.keep:
            return
        fields = {"segment": d.segment, "reason": d.reason, "new_segment": d.new_segment, "frame_id": header.frame_id,
                  "translation_m": d.translation, "rotation_deg": d.rotation_deg, "linear_speed": d.linear_speed,
                  "angular_speed_deg": d.angular_speed_deg}
        images = [(topic, serialize_message(m)) for topic, m in zip(self.image_topics, msgs[:-1])]
        record = KeyframeRecord(stamp, self.params.fixed_frame, T, images,
                                (self.info_topic, serialize_message(msgs[-1])), fields)
        self._take_tf()  # the TF this keyframe's lookups used goes into the bag first
        info = self._guard(self.recorder.write_keyframe, record, self._now_ns())
        if info is not None:
            self.pub_keyframes.publish(String(data=json.dumps(info, sort_keys=True)))

    def _tick(self) -> None:
        with self._lock:
            self._drain()
            self._take_tf()
            self._guard(self.recorder.tick, self._now_ns())

    def _diagnostics(self) -> None:
        self.pub_diag.publish(recorder_diagnostics(self.status(), self.get_fully_qualified_name(),
                                                   self.get_clock().now().to_msg()))

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run a recorder operation under the lock; a write failure stops the recording with an error log."""
        with self._lock:
            try:
                return fn(*args)
            except BagWriteError as exc:
                self.get_logger().error(f"recording stopped: {exc}")
                self.waiting = TfWaitQueue(self.params.tf_timeout, self.waiting.max_len)
                return None

    # -- services --------------------------------------------------------------------------------------

    def _start(self) -> tuple[bool, str]:
        with self._lock:
            if self.recorder.recording:
                return False, f"already recording into {self.recorder.bag_path}"
            self.gate.reset()
            self.waiting = TfWaitQueue(self.params.tf_timeout, self.waiting.max_len)
            self._take_tf()  # the pre-roll history up to now
            try:  # OutputDirError: not writable, or less than min_free_space_mb free; nothing was started
                path = self.recorder.start(self._now_ns())
            except (BagWriteError, OutputDirError, OSError, RuntimeError) as exc:
                self.recorder.error = str(exc)
                self.get_logger().error(f"cannot start recording: {exc}")
                return False, str(exc)
        self.get_logger().info(f"recording into {path}")
        return True, str(path)

    def _stop(self) -> tuple[bool, str]:
        with self._lock:
            if not self.recorder.recording:
                return False, "not recording"
            self._drain(final=True)
            self._take_tf()
            try:
                path = self.recorder.stop()
            except BagWriteError as exc:
                self._log_late("error", f"closing the bag failed: {exc}")
                return False, str(exc)
        self._log_late("info", f"recording stopped; {self.gate.kept} keyframes in {len(self.recorder.closed_bags)} "
                               f"bag(s), last {path}")
        return True, str(path)

    def _log_late(self, level: str, text: str) -> None:
        """Log, also after rclpy shut down (SIGINT/SIGTERM), when /rosout can no longer be published."""
        if rclpy.ok():
            getattr(self.get_logger(), level)(text)
        else:
            print(f"[{level.upper()}] [{self.get_name()}]: {text}", file=sys.stderr, flush=True)

    def _srv_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._start()
        return response

    def _srv_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._stop()
        return response

    def _srv_status(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = True, json.dumps(self.status(), sort_keys=True)
        return response

    def status(self) -> dict[str, Any]:
        """Recording state and counts (the ~/status answer and /diagnostics values)."""
        with self._lock:
            counts = self.gate.counts
            dropped_tf = self.stats["tf_unavailable"] + self.stats["tf_queue_full"]
            return {**self.recorder.status(), **self.stats, "keyframes_kept": self.gate.kept,
                    "dropped_blurred": counts.get("blurred", 0), "dropped_too_close": counts.get("too_close", 0),
                    "segments": self.gate.segment + 1, "waiting_for_tf": len(self.waiting),
                    "frames_dropped_tf": dropped_tf,
                    "tf_drop_pct": round(100.0 * dropped_tf / max(self.stats["frames_received"], 1), 2),
                    "tf_timeout_s": self.params.tf_timeout, "tf_backend": self.tf.backend}

    def destroy_node(self) -> None:
        """Close the bag before the node goes away (SIGINT, SIGTERM, normal exit)."""
        recorder = getattr(self, "recorder", None)  # None when __init__ failed (bad parameters)
        if recorder is not None and recorder.recording:
            self._stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run selfpose_ros trajectory_recorder --ros-args --params-file config/record.yaml``."""
    # run_node handles SIGINT/SIGTERM: it never raises inside a bag write; it stops spinning, lets callbacks
    # finish, then destroy_node closes the bag (summary, metadata.yaml) while the context is still valid.
    return run_node(TrajectoryRecorder, args, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())
