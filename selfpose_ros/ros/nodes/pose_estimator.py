"""pose_estimator: synchronised RGB-D + segmentation in, per-object 6D pose and metric size out.

Thin by design: inputs and checks live in CameraInputs, inference in selfpose_ros.inference, message
building in pose_messages / detection_messages. Inference runs on a worker thread with a queue of one,
so a new frame replaces an unprocessed one and the callback thread never blocks.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header
from vision_msgs.msg import Detection3DArray
from visualization_msgs.msg import MarkerArray

from selfpose_ros.data.frame import RGBDFrame
from selfpose_ros.data.image_codec import numpy_to_image
from selfpose_ros.data.stamps import ns_to_sec_nanosec, stamp_to_ns
from selfpose_ros.inference.backends import make_estimator
from selfpose_ros.inference.debug_image import draw_overlay
from selfpose_ros.inference.estimator import SolverOptions, resolve_device
from selfpose_ros.inference.latest_worker import LatestWorker
from selfpose_ros.inference.pipeline import FramePipeline, PipelineConfig
from selfpose_ros.inference.stage_timer import StageTimer
from selfpose_ros.inference.tracking import TrackerConfig
from selfpose_ros.msg import ObjectPoseArray
from selfpose_ros.ros.camera_inputs import CameraInputs
from selfpose_ros.ros.cloud_messages import cloud_message
from selfpose_ros.ros.detection_messages import MarkerTracker, to_detection_array
from selfpose_ros.ros.node_runner import run_node
from selfpose_ros.ros.params import PoseEstimatorParams, load_params
from selfpose_ros.ros.pose_messages import from_object_pose, to_object_pose_array, to_transform
from selfpose_ros.ros.tf_broadcast import TfBroadcaster
from selfpose_ros.ros.tf_listener import TfListener
from selfpose_ros.ros.throttled_warnings import ThrottledWarnings


class PoseEstimator(Node):
    """Publishes ``objects``, ``detections``, ``markers``, ``debug_image``, TF and /diagnostics."""

    def __init__(self) -> None:
        super().__init__("pose_estimator")
        p = self.params = load_params(self, PoseEstimatorParams)
        options = SolverOptions(p.min_inliers, p.ransac_iterations, p.inlier_threshold, p.icp,
                                resolve_device(p.device), p.upright_snap_deg, mask_reach_px=p.mask_reach_px)
        self.estimator = make_estimator(p.model, p.categories, options)
        self.warnings = ThrottledWarnings(self, p.warn_period)
        self.pub_objects = self.create_publisher(ObjectPoseArray, "objects", 10)
        self.pub_detections = self.create_publisher(Detection3DArray, "detections", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "markers", 10) if p.publish_markers else None
        self.pub_debug = self.create_publisher(Image, "debug_image", 2) if p.publish_debug_image else None
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.tf = TfBroadcaster(self) if p.publish_tf else None
        fusion, ego_bias = p.fusion_config(), p.ego_bias_config()
        # TF on its own callback group; every callback here is short (the worker thread waits for TF), so one
        # executor thread receives TF and images alike (main(): why not rclpy's MultiThreadedExecutor)
        self.tf_in = TfListener(self, on_error=lambda text: self.warnings.warn("tf_rejected", text)) \
            if p.gravity_frame or fusion.enabled or ego_bias.enabled else None
        self.frames_without_gravity = 0
        self.pub_per_frame = (self.create_publisher(ObjectPoseArray, "objects_per_frame", 10)
                              if fusion.enabled and p.publish_per_frame_objects else None)
        self.pub_cloud = (self.create_publisher(PointCloud2, "fused_cloud", 2)
                          if fusion.enabled and p.publish_fused_cloud else None)
        self.markers = MarkerTracker()
        self.timer = StageTimer()
        tracking = TrackerConfig(enabled=p.tracking, alpha=p.smoothing_alpha, gate=p.track_gate,
                                 max_jump_m=p.max_jump_m, max_jump_deg=p.max_jump_deg)
        config = PipelineConfig(p.categories, p.active_categories, p.min_mask_pixels, p.min_confidence, tracking,
                                p.label_decoder(), fusion, ego_bias)
        self.pipeline = FramePipeline(self.estimator, config, self.timer,
                                      tf_lookup=self._camera_pose if fusion.enabled or ego_bias.enabled else None)
        self.worker = LatestWorker(self._process, on_error=self._on_worker_error)
        self.inputs = CameraInputs(self, self.worker.submit, slop=p.sync_slop, queue_size=p.sync_queue,
                                   warnings=self.warnings, timer=self.timer, qos=p.image_qos)
        self.stats = {"frames": 0, "objects": 0, "fused": 0, "proc_s": 0.0, "latency_s": 0.0, "t0": time.monotonic()}
        if getattr(self.estimator, "wants_ground_truth", False):  # the oracle back-end of the tests
            self.create_subscription(ObjectPoseArray, "ground_truth/objects", self._on_ground_truth, 50)
        self.create_timer(1.0, self._diagnostics)
        missing = [c for c in getattr(self.estimator, "missing_categories", []) if c in p.active_categories]
        if missing:
            self.get_logger().warning(f"model '{p.model}' does not cover {missing}: those instances are skipped "
                                      "(set active_categories to silence this)")
        warm = ""
        if p.warm_up_objects and hasattr(self.estimator, "warm_up"):
            warm = f"; warmed up for 1-{p.warm_up_objects} objects in {self.estimator.warm_up(p.warm_up_objects):.1f} s"
        self.get_logger().info(
            f"model '{p.model}' ({self.estimator.name}) on {options.device}{warm}; categories {p.active_categories}; "
            f"sync via {self.inputs.sync.backend}; TF via {self.tf.backend if self.tf else 'off'}; "
            f"multi-view fusion {'in ' + fusion.frame if fusion.enabled else 'off'}; "
            f"ego-motion debiasing {'in ' + ego_bias.frame if ego_bias.enabled else 'off'}"
        )

    def _on_ground_truth(self, msg: ObjectPoseArray) -> None:
        self.estimator.add_ground_truth(stamp_to_ns(msg.header.stamp), [from_object_pose(o) for o in msg.objects])

    def _on_worker_error(self, exc: BaseException) -> None:
        self.warnings.warn("processing_failed", f"frame processing failed: {type(exc).__name__}: {exc}")

    def _with_gravity(self, frame: RGBDFrame) -> RGBDFrame:
        """The frame with ``up`` (gravity_frame's +Z in the camera frame) when TF has it at the image stamp.

        Runs on the worker thread, so waiting for TF that arrives after the image blocks no callback."""
        try:
            T = self.tf_in.lookup(self.params.gravity_frame, frame.frame_id, frame.stamp_ns,
                                  timeout=self.params.tf_timeout)
        except LookupError as exc:
            self.frames_without_gravity += 1
            self.warnings.warn("no_gravity", f"no gravity for this frame ({self.params.gravity_frame} <- "
                               f"{frame.frame_id}) within {self.params.tf_timeout} s: {exc}; processing it without")
            return frame
        return dataclasses.replace(frame, up=T[:3, :3].T @ np.array([0.0, 0.0, 1.0]))

    def _camera_pose(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """T_target_source at the image stamp for fusion and debiasing (worker thread: it may wait for TF)."""
        return self.tf_in.lookup(target, source, stamp_ns, timeout=self.params.tf_timeout)

    def _process(self, frame: RGBDFrame) -> None:
        t0 = time.perf_counter()
        if self.params.gravity_frame:
            frame = self._with_gravity(frame)
        result = self.pipeline.process(frame)
        if result.unknown_labels:
            self.warnings.warn("unknown_label_values", f"segmentation values {result.unknown_labels[:20]} are not in "
                               f"label_map (label_mode {self.params.label_mode}): their pixels are ignored")
        for reason in result.skipped:
            self.warnings.warn(reason.kind, f"instance skipped: {reason}")
        if result.fusion_error:
            self.warnings.warn("no_fusion_pose", result.fusion_error)
        if result.ego_bias_error:
            self.warnings.warn("no_ego_bias_pose", result.ego_bias_error)
        with self.timer.time("publish"):
            self._publish(frame, result.estimates, result.masks, result.track_ids)
            self._publish_fusion(frame, result.per_frame)
        dt = time.perf_counter() - t0
        s = self.stats
        s["frames"] += 1
        s["objects"] += len(result.estimates)
        s["fused"] += sum(1 for e in result.estimates if e.fused)
        if result.up_source is not None:
            s["up_" + result.up_source] = s.get("up_" + result.up_source, 0) + 1
        s["proc_s"] += dt
        s["latency_s"] += self.get_clock().now().nanoseconds * 1e-9 - frame.stamp_ns * 1e-9

    def _publish(self, frame: RGBDFrame, estimates: list, masks: list, track_ids: list[str]) -> None:
        header = Header(frame_id=frame.frame_id)
        header.stamp.sec, header.stamp.nanosec = ns_to_sec_nanosec(frame.stamp_ns)
        self.pub_objects.publish(to_object_pose_array(estimates, header))
        self.pub_detections.publish(to_detection_array(estimates, header, track_ids))
        if self.tf is not None and estimates:
            self.tf.send([to_transform(e, header, self.params.tf_prefix) for e in estimates])
        if self.pub_markers is not None:
            self.pub_markers.publish(self.markers.build(estimates, header))
        if self.pub_debug is not None and self.pub_debug.get_subscription_count() > 0:
            overlay = draw_overlay(frame.rgb, frame.K, estimates, masks)
            self.pub_debug.publish(numpy_to_image(overlay, "rgb8", header))

    def _publish_fusion(self, frame: RGBDFrame, per_frame: list) -> None:
        """With fusion: the per-frame estimates and the tracks' fused clouds, when asked for."""
        header = Header(frame_id=frame.frame_id)
        header.stamp.sec, header.stamp.nanosec = ns_to_sec_nanosec(frame.stamp_ns)
        if self.pub_per_frame is not None:
            self.pub_per_frame.publish(to_object_pose_array(per_frame, header))
        if self.pub_cloud is not None and self.pipeline.fusion is not None:
            points, ids = self.pipeline.fusion.clouds()
            header.frame_id = self.pipeline.fusion.config.frame
            self.pub_cloud.publish(cloud_message(points, ids, header))

    def _diagnostics(self) -> None:
        s, w = self.stats, self.worker
        elapsed = max(time.monotonic() - s["t0"], 1e-9)
        n = max(s["frames"], 1)
        values = {
            "frames_processed": s["frames"],
            "rate_hz": f"{s['frames'] / elapsed:.2f}",
            "processing_ms_mean": f"{1e3 * s['proc_s'] / n:.1f}",
            "latency_ms_mean": f"{1e3 * s['latency_s'] / n:.1f}",
            "objects_per_frame": f"{s['objects'] / n:.2f}",
            "frames_dropped": w.dropped,
            "frames_rejected": self.inputs.rejected,
            "processing_errors": w.errors,
            "frames_without_gravity": self.frames_without_gravity,
            # frames with an estimate, by where up came from: TF, the support plane (no gravity), neither
            **{f"frames_up_{k}": s.get(f"up_{k}", 0) for k in ("tf", "support_plane", "none")},
        }
        values.update({f"stage_{k}_ms": f"{v:.2f}" for k, v in self.timer.summary().items()})
        if self.pipeline.fusion is not None:
            values["fused_objects_per_frame"] = f"{s['fused'] / n:.2f}"
            values.update({f"fusion_{k}": v for k, v in self.pipeline.fusion.summary().items()})
        level = DiagnosticStatus.OK
        message = "ok"
        if self.inputs.received == 0 and elapsed > 5.0:
            level, message = DiagnosticStatus.WARN, "no synchronised input yet"
            problems = "; ".join(self.inputs.input_problems()) or "every input has a publisher (compare their stamps)"
            self.warnings.warn("no_input", f"no synchronised frames yet: {problems}")
        status = DiagnosticStatus(level=level, name="selfpose_ros: pose_estimator", message=message,
                                  hardware_id=self.get_fully_qualified_name(),
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        self.pub_diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                              status=[status]))

    def destroy_node(self) -> None:
        """Stop the worker before the node goes away (also after a failed __init__)."""
        if getattr(self, "worker", None) is not None:
            self.worker.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point: ``ros2 run selfpose_ros pose_estimator --ros-args --params-file config/pose.yaml``.

    One executor thread: its callbacks only convert and hand frames to the worker. rclpy's MultiThreadedExecutor
    (Humble to Kilted, before ros2/rclpy#1547) re-queues tasks its pool has not started yet and spins hot while
    it does, so the pool's threads wait for the GIL: frames that reached DDS in under 1 ms sat 0.3-3.7 s before
    their callbacks ran (benchmarks/node_latency.py, docs/pose_estimator.md "Latency").
    """
    return run_node(PoseEstimator, args, threads=1)


if __name__ == "__main__":
    raise SystemExit(main())
