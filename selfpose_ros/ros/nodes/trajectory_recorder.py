"""trajectory_recorder: records smooth viewpoint trajectories (keyframes + camera poses) into MCAP rosbag2 bags.

Thin by design: gating lives in selfpose_ros.recording.keyframes, bag writing (splitting, crash safety) in
selfpose_ros.recording.recorder, TF lookups in selfpose_ros.ros.tf_listener. Inputs: the image topics and
camera_info (relative, approximately synchronised), /tf, /tf_static. Services: ~/start, ~/stop, ~/status
(std_srvs/Trigger; status answers JSON). Each kept keyframe is also published on ~/keyframes (JSON).
docs/recorder.md has the details.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import rclpy
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
from selfpose_ros.recording.recorder import BagRecorder, KeyframeRecord, RecorderConfig
from selfpose_ros.recording.tf_wait import TfWaitQueue
from selfpose_ros.ros.camera_inputs import ThrottledWarnings
from selfpose_ros.ros.node_runner import run_node
from selfpose_ros.ros.params import TrajectoryRecorderParams, load_params
from selfpose_ros.ros.sync_subscribers import SyncedSubscribers
from selfpose_ros.ros.tf_broadcast import TF_QOS, TF_STATIC_QOS
from selfpose_ros.ros.tf_listener import TfListener


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
            compression=p.compression), self._description(gate_config))
        self.warnings = ThrottledWarnings(self, p.warn_period)
        self.tf = TfListener(self, cache_s=p.tf_cache_s, on_error=self.warnings.warn)
        self.waiting: TfWaitQueue[tuple, tuple] = TfWaitQueue(p.tf_timeout, max_len=max(30, 4 * p.sync_queue))
        self.stats = {"frames_received": 0, "tf_unavailable": 0, "tf_queue_full": 0, "ignored_not_recording": 0}
        self._static: dict[str, Any] = {}
        qos = qos_profile_sensor_data if p.image_qos == "sensor_data" else \
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        types = [Image] * len(p.image_topics) + [CameraInfo]
        self.sync = SyncedSubscribers(self, list(zip(types, [*p.image_topics, p.camera_info_topic])), qos,
                                      p.sync_queue, p.sync_slop, self._on_frame)
        self.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS, raw=True)
        self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, TF_STATIC_QOS)
        self.pub_keyframes = self.create_publisher(String, "~/keyframes", QoSProfile(depth=100))
        self.create_service(Trigger, "~/start", self._srv_start)
        self.create_service(Trigger, "~/stop", self._srv_stop)
        self.create_service(Trigger, "~/status", self._srv_status)
        self.create_timer(0.05, self._tick)
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
        if not self.recorder.recording:
            self.stats["ignored_not_recording"] += 1
            return
        self.stats["frames_received"] += 1
        if self.waiting.push(msgs, time.monotonic()) is not None:
            self.stats["tf_queue_full"] += 1
            self.warnings.warn("frames arrive faster than their TF: dropped the oldest waiting frame")
        self._drain()

    def _on_tf(self, data: bytes) -> None:
        self._guard(self.recorder.on_tf, bytes(data), self._now_ns())

    def _on_tf_static(self, msg: TFMessage) -> None:
        for ts in msg.transforms:
            self._static[ts.child_frame_id] = ts
        combined = serialize_message(TFMessage(transforms=list(self._static.values())))
        self._guard(self.recorder.on_tf_static, serialize_message(msg), combined, self._now_ns())

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
                self.warnings.warn(f"no camera pose '{self.params.fixed_frame}' <- '{res.item[0].header.frame_id}'"
                                   f": {res.error}")
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
        info = self._guard(self.recorder.write_keyframe, record, self._now_ns())
        if info is not None:
            self.pub_keyframes.publish(String(data=json.dumps(info, sort_keys=True)))

    def _tick(self) -> None:
        _shutdown_if_signalled()
        self._drain()
        self._guard(self.recorder.tick, self._now_ns())

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run a recorder operation; a write failure stops the recording with an error log."""
        try:
            return fn(*args)
        except BagWriteError as exc:
            self.get_logger().error(f"recording stopped: {exc}")
            self.waiting = TfWaitQueue(self.params.tf_timeout, self.waiting.max_len)
            return None

    # -- services --------------------------------------------------------------------------------------

    def _start(self) -> tuple[bool, str]:
        if self.recorder.recording:
            return False, f"already recording into {self.recorder.bag_path}"
        self.gate.reset()
        self.waiting = TfWaitQueue(self.params.tf_timeout, self.waiting.max_len)
        try:
            path = self.recorder.start(self._now_ns())
        except (BagWriteError, OSError, RuntimeError) as exc:
            self.get_logger().error(f"cannot start recording: {exc}")
            return False, str(exc)
        self.get_logger().info(f"recording into {path}")
        return True, str(path)

    def _stop(self) -> tuple[bool, str]:
        if not self.recorder.recording:
            return False, "not recording"
        self._drain(final=True)
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
        """Recording state and counts (the ~/status answer)."""
        counts = self.gate.counts
        return {**self.recorder.status(), **self.stats, "keyframes_kept": self.gate.kept,
                "dropped_blurred": counts.get("blurred", 0), "dropped_too_close": counts.get("too_close", 0),
                "segments": self.gate.segment + 1, "waiting_for_tf": len(self.waiting),
                "tf_backend": self.tf.backend}

    def destroy_node(self) -> None:
        """Close the bag before the node goes away (SIGINT, SIGTERM, normal exit)."""
        recorder = getattr(self, "recorder", None)  # None when __init__ failed (bad parameters)
        if recorder is not None and recorder.recording:
            self._stop()
        super().destroy_node()


_SIGNALLED_AT: list[float] = []  # monotonic time of the first SIGINT/SIGTERM


def _note_signal(signum: int, frame: Any) -> None:
    """SIGINT/SIGTERM handler: only note the time; never raise inside a bag write, never call into rclpy here."""
    if not _SIGNALLED_AT:
        _SIGNALLED_AT.append(time.monotonic())


def _shutdown_if_signalled() -> None:
    """From a timer: if a signal came and rclpy did not shut down by itself within 0.5 s, shut it down."""
    if _SIGNALLED_AT and time.monotonic() - _SIGNALLED_AT[0] > 0.5 and rclpy.ok():
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run selfpose_ros trajectory_recorder --ros-args --params-file config/record.yaml``."""
    # Installed before rclpy.init: rclpy's own SIGINT/SIGTERM handlers shut the context down and then chain
    # to these (instead of Python's default SIGINT handler, which would raise KeyboardInterrupt in the middle
    # of a write). Where rclpy handles a signal itself, these do nothing else; where it does not, the node's
    # timer shuts rclpy down. Either way spin returns and destroy_node closes the bag.
    signal.signal(signal.SIGINT, _note_signal)
    signal.signal(signal.SIGTERM, _note_signal)
    return run_node(TrajectoryRecorder, args)


if __name__ == "__main__":
    raise SystemExit(main())
