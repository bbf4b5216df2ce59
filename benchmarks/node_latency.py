"""pose_estimator end to end over real DDS: latency (publish -> ObjectPoseArray received), throughput for 1, 3 and
5 objects at 640x480, and where the time goes (conversion, instances, the pose back-end, tracking, publish).

The estimator runs in its own process, as in deployment; this process publishes pre-rendered simulator frames
the way a camera driver does (reliable QoS, the ROS default of image_transport) in a closed loop (the next
frame goes out when the previous result came back) and receives the results.

Columns: p50 / p99 latency per frame; fps = frames answered per second of the closed loop; `backend` = time
in the pose back-end selected by `model` (for a checkpoint: crops + network + correspondence solver), `net` =
the network forward alone; `outside` = share of the end-to-end latency spent outside the back-end (DDS
transport of the four inputs and the result, synchronisation, image conversion and checks, instance
extraction, tracking, message building). The final line's p50/p99 pool the frames of all three cases and its
overhead_pct is the pooled `outside` share.

Peer ratios in the same run: our zero-copy image decoding against the usual copying decode and cv_bridge (when it
imports); our approximate-time synchroniser against message_filters (when it imports).

Usage: python benchmarks/node_latency.py [--model models/cse_6cat_rgbd.pt|prior_fit|oracle] [--frames 20]
       [--device cpu] [--qos reliable|sensor_data] [--transport large_shm|default]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from selfpose_ros.ros.fastdds_profile import PROFILE_VARS, use_large_images_profile

REPO = Path(__file__).resolve().parents[1]
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
_early = argparse.ArgumentParser(add_help=False)
_early.add_argument("--transport", default="large_shm", choices=["large_shm", "default"])
if _early.parse_known_args()[0].transport == "large_shm":  # before rclpy creates a participant
    use_large_images_profile(os.environ)

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from selfpose_ros.msg import ObjectPoseArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from selfpose_ros.data.image_codec import image_to_numpy, numpy_to_image  # noqa: E402
from selfpose_ros.data.stamps import stamp_to_ns  # noqa: E402
from selfpose_ros.data.topics import CAMERA_TOPICS  # noqa: E402
from selfpose_ros.ros.approx_sync import ApproximateTimeSynchronizer  # noqa: E402
from selfpose_ros.ros.camera_inputs import INPUT_QOS  # noqa: E402
from selfpose_ros.ros.sim_messages import camera_info_msg, ground_truth_msg, transform_msg  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402
from selfpose_ros.sim.tf_tree import FrameTransform  # noqa: E402

NS = "/bench"
CATEGORIES = ("bottle", "bowl", "camera", "can", "laptop", "mug")  # the shipped model's categories


def render_frames(n_objects: int, frames: int, seed: int) -> list:
    """Return pre-rendered 640x480 frames of a scene with exactly ``n_objects`` objects."""
    cfg = SimConfig(
        num_frames=frames,
        rate_hz=5.0,
        scene=SceneConfig(categories=CATEGORIES, min_objects=n_objects, max_objects=n_objects),
    )
    sim = SimScene(cfg, seed)
    return [sim.render(i) for i in range(frames)]


class Bench:
    """The camera side: publishers like a driver, a subscriber to the results and to /diagnostics."""

    def __init__(self, qos: str, fusion_frame: str = "") -> None:
        self.node = rclpy.create_node("bench_camera")
        self.fusion_frame = fusion_frame
        self.pub_tf = self.node.create_publisher(TFMessage, "/tf", 100) if fusion_frame else None
        names = list(CAMERA_TOPICS)
        self.pubs = [
            self.node.create_publisher(t, f"{NS}/{n}", INPUT_QOS[qos])
            for t, n in zip([Image, Image, Image, CameraInfo], names)
        ]
        self.pub_gt = self.node.create_publisher(ObjectPoseArray, f"{NS}/ground_truth/objects", 10)
        self.results: dict[int, tuple[float, int]] = {}
        self.node.create_subscription(ObjectPoseArray, f"{NS}/objects", self._on_objects, 10)
        self.diag: dict[str, str] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_objects(self, msg: ObjectPoseArray) -> None:
        self.results[stamp_to_ns(msg.header.stamp)] = (time.monotonic(), len(msg.objects))

    def _on_diag(self, arr: DiagnosticArray) -> None:
        for status in arr.status:
            if status.name.endswith("pose_estimator"):
                self.diag = {kv.key: kv.value for kv in status.values}

    def spin_until(self, done, timeout: float) -> bool:
        """Spin until ``done()`` or ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.005)
        return done()

    def send(self, frame, timeout: float) -> tuple[float, int] | None:
        """Publish one frame; return (latency s, objects found), or None if no answer came in ``timeout``."""
        stamp = self.node.get_clock().now()
        header = Header(stamp=stamp.to_msg(), frame_id="camera_color_optical_frame")
        msgs = [
            numpy_to_image(frame.rgb, "rgb8", header),
            numpy_to_image(frame.depth_mm, "16UC1", header),
            numpy_to_image(frame.segmentation, "32SC1", header),
            camera_info_msg(frame.camera, header),
        ]
        gt = ground_truth_msg(frame, header)
        t_pub = time.monotonic()
        if self.pub_tf is not None:  # the camera pose at the image stamp, for the node's multi-view fusion
            pose = FrameTransform(self.fusion_frame, "camera_color_optical_frame", frame.T_map_optical)
            self.pub_tf.publish(TFMessage(transforms=[transform_msg(pose, stamp.to_msg())]))
        self.pub_gt.publish(gt)
        for pub, msg in zip(self.pubs, msgs):
            pub.publish(msg)
        if not self.spin_until(lambda: stamp.nanoseconds in self.results, timeout):
            return None
        t_recv, found = self.results[stamp.nanoseconds]
        return t_recv - t_pub, found

    def stage_totals(self, frames_expected: int, timeout: float = 5.0) -> tuple[int, dict[str, float]]:
        """(frames processed, total ms per stage) from the first /diagnostics that has seen ``frames_expected``."""
        self.spin_until(lambda: int(self.diag.get("frames_processed", -1)) >= frames_expected, timeout)
        n = int(self.diag.get("frames_processed", 0))
        return n, {k[6:-3]: float(v) * n for k, v in self.diag.items() if k.startswith("stage_")}


def run_case(bench: Bench, frames: list, processed_before: int, timeout: float) -> dict:
    """Send every frame of one case; return latencies, objects found, wall time and stage means (ms/frame)."""
    n0, totals0 = bench.stage_totals(processed_before)
    latencies, found, lost = [], [], 0
    t_start = time.monotonic()
    for frame in frames:
        got = bench.send(frame, timeout)
        if got is None:
            lost += 1
            continue
        latencies.append(got[0])
        found.append(got[1])
    wall = time.monotonic() - t_start
    n1, totals1 = bench.stage_totals(n0 + len(latencies))
    k = max(n1 - n0, 1)
    stages = {s: (totals1[s] - totals0.get(s, 0.0)) / k for s in totals1}
    return {"latency": np.array(latencies), "found": found, "lost": lost, "wall": wall, "stages": stages}


def peer_ratios(frames) -> None:
    """Time image decoding and synchronisation against their peers on the same messages."""
    msg = numpy_to_image(frames[0].rgb, "rgb8", Header())
    reps = 300
    t0 = time.perf_counter()
    for _ in range(reps):
        image_to_numpy(msg)
    ours = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        np.array(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)
    naive = (time.perf_counter() - t0) / reps
    print(f"decode 640x480 rgb8: ours {ours * 1e6:.1f} us, copying decode {naive * 1e6:.1f} us -> {naive / ours:.0f}x")
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()
        t0 = time.perf_counter()
        for _ in range(reps):
            bridge.imgmsg_to_cv2(msg, "rgb8")
        cvb = (time.perf_counter() - t0) / reps
        print(f"decode 640x480 rgb8: cv_bridge {cvb * 1e6:.1f} us -> ours is {cvb / ours:.1f}x faster")
    except Exception as exc:  # noqa: BLE001 - any import/runtime failure means "not available here"
        print(f"cv_bridge: not available here ({type(exc).__name__}); no ratio")
    n = 5000
    stamps = [(k * 33_000_000 + i * 1_000_000, i) for k in range(n) for i in range(4)]
    sync = ApproximateTimeSynchronizer(4, 10, 0.01, lambda *m: None)
    t0 = time.perf_counter()
    for stamp, i in stamps:
        sync.add(i, stamp, stamp)
    ours_sync = (time.perf_counter() - t0) / n
    try:
        from types import SimpleNamespace

        import message_filters
        from builtin_interfaces.msg import Time

        inputs = [message_filters.SimpleFilter() for _ in range(4)]
        mf = message_filters.ApproximateTimeSynchronizer(inputs, 10, 0.01)
        mf.registerCallback(lambda *m: None)
        msgs = [
            (i, SimpleNamespace(header=SimpleNamespace(stamp=Time(sec=s // 10**9, nanosec=s % 10**9))))
            for s, i in stamps
        ]
        t0 = time.perf_counter()
        for i, m in msgs:
            inputs[i].signalMessage(m)
        theirs = (time.perf_counter() - t0) / n
        print(
            f"approximate sync, 4 topics: ours {ours_sync * 1e6:.1f} us per set, message_filters "
            f"{theirs * 1e6:.1f} us -> {theirs / ours_sync:.1f}x"
        )
    except ImportError:
        print(
            f"approximate sync, 4 topics: ours {ours_sync * 1e6:.1f} us per set; message_filters is not "
            "installed here (no PyPI wheel): no ratio"
        )


def main() -> int:
    """Run the benchmark, print the table and the final summary line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/cse_6cat_rgbd.pt")
    ap.add_argument("--frames", type=int, default=20, help="measured frames per case")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--qos",
        default="reliable",
        choices=sorted(INPUT_QOS),
        help="publisher QoS and the node's image_qos (sensor_data shows the loss of large images)",
    )
    ap.add_argument(
        "--transport",
        default="large_shm",
        choices=["large_shm", "default"],
        help="large_shm: this process (the camera) and the estimator use config/fastdds_large_images.xml "
        "(as docs/pose_estimator.md advises for camera drivers); default: Fast DDS defaults",
    )
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one frame's answer")
    ap.add_argument("--fusion-frame", default="",
                    help="run the node with multi-view fusion in this frame (the camera's poses are published on "
                         "/tf with each frame); its cost is the 'fuse' stage")
    args = ap.parse_args()
    warmup = 3
    print(f"rendering {args.frames + warmup} frames x 3 scenes (1, 3, 5 objects) at 640x480 ...", flush=True)
    cases = {n: render_frames(n, args.frames + warmup, seed=100 + n) for n in (1, 3, 5)}
    rclpy.init()
    bench = Bench(args.qos, args.fusion_frame)
    log_path = Path(tempfile.gettempdir()) / "selfpose_node_latency_estimator.log"
    print(f"estimator log: {log_path}", flush=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "selfpose_ros.ros.nodes.pose_estimator",
                "--ros-args",
                "-r",
                f"__ns:={NS}",
                "--params-file",
                str(REPO / "config" / "pose.yaml"),
                "-p",
                f"model:={args.model}",
                "-p",
                f"device:={args.device}",
                "-p",
                f"image_qos:={args.qos}",
                "-p",
                "publish_debug_image:=false",
                "-p",
                f"fusion_frame:={args.fusion_frame or chr(39) * 2}",  # '' : rcl rejects an empty override
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        rows = {}
        try:
            if not bench.spin_until(lambda: all(p.get_subscription_count() for p in bench.pubs), 120.0):
                print("pose_estimator did not subscribe within 120 s; see the log", file=sys.stderr)
                return 1
            answered = 0  # frames answered so far: /diagnostics must have counted them all
            for n, frames in cases.items():
                for frame in frames[:warmup]:  # first allocations, scene change for the tracker
                    answered += bench.send(frame, args.timeout) is not None
                rows[n] = run_case(bench, frames[warmup:], answered, args.timeout)
                answered += len(rows[n]["latency"])
                print(f"  {n} objects: {len(rows[n]['latency'])} frames answered, {rows[n]['lost']} lost", flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    bench.node.destroy_node()
    rclpy.shutdown()
    profile = next((os.environ[v] for v in PROFILE_VARS if os.environ.get(v)), "none")
    print(
        f"\nmodel {args.model}, device {args.device}, 640x480, image QoS {args.qos}, transport {args.transport} "
        f"(Fast DDS profile: {profile}), closed loop (one frame in flight), {args.frames} frames per case, "
        f"multi-view fusion {'in ' + args.fusion_frame if args.fusion_frame else 'off'}"
    )
    print(
        f"{'objects':>7} {'answered':>8} {'found':>5} {'p50 ms':>8} {'p99 ms':>8} {'fps':>6} {'backend':>8} "
        f"{'net':>6} {'outside':>8}  node stages (ms per frame)"
    )
    all_lat, all_backend = [], []
    for n, r in rows.items():
        lat = r["latency"] * 1e3
        if not len(lat):
            print(f"{n:>7} {0:>8}  no frame answered ({r['lost']} lost)")
            continue
        st = r["stages"]
        backend, net = st.get("estimate", float("nan")), st.get("model", float("nan"))
        fps = len(lat) / r["wall"]
        outside = 100.0 * (lat.mean() - backend) / lat.mean()
        all_lat.extend(lat)
        all_backend.extend([backend] * len(lat))
        stage_txt = " ".join(f"{k}={v:.1f}" for k, v in sorted(st.items()))
        print(
            f"{n:>7} {len(lat):>8} {np.mean(r['found']):5.1f} {np.percentile(lat, 50):8.1f} "
            f"{np.percentile(lat, 99):8.1f} {fps:6.2f} {backend:8.1f} {net:6.1f} {outside:7.1f}%  {stage_txt}"
        )
    print()
    peer_ratios(cases[1])
    if not all_lat or any(not len(r["latency"]) for r in rows.values()):
        print("node_latency: FAILED (frames lost; see the estimator log)", file=sys.stderr)
        return 1
    fps = {n: len(r["latency"]) / r["wall"] for n, r in rows.items()}
    lat = np.array(all_lat)
    overhead = 100.0 * (lat.sum() - np.sum(all_backend)) / lat.sum()
    # the exact last-line format (fusion on or off is in the table's header line above)
    print(
        f"node_latency: model={args.model} device={args.device} "
        f"fps_1obj={fps[1]:.2f} fps_5obj={fps[5]:.2f} "
        f"p50_ms={np.percentile(lat, 50):.1f} p99_ms={np.percentile(lat, 99):.1f} overhead_pct={overhead:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
