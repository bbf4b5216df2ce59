"""trajectory_recorder under load: share of frames dropped because their camera pose (TF) came too late.

sim_camera (640x480, 15 Hz by default) and trajectory_recorder run in their own processes over real DDS, as in
deployment, while ``--load`` busy-loop processes (``python -c 'while True: pass'``) compete for the CPUs. After
``--seconds`` the recorder's ``~/status`` gives the frames it synchronised and the frames it dropped for TF
(no camera pose within ``tf_timeout``, or the TF wait queue full). ``--repo`` runs the nodes of another
checkout (e.g. an older commit exported with ``git archive``), so before/after numbers come from the same script.

This is a measurement, not a hot path: there is no peer library to compare against (the peer, tf2_ros'
buffer, is not installable here); the ratio printed is dropped / received.

Usage: python benchmarks/recorder_tf_drops.py [--seconds 60] [--load 2] [--rate 15] [--repo PATH]
Last line: ``recorder_tf_drops: received=<n> dropped_tf=<d> drop_pct=<p> load=<k> rate_hz=<r> ...``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))

import rclpy  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from selfpose_ros.ros.tf_broadcast import TF_QOS  # noqa: E402

NS = "/tfbench"


def start(repo: Path, module: str, args: list[str], log: Path) -> subprocess.Popen:
    """Run ``python -m module args`` from ``repo`` (its package first on the path), output into ``log``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=repo, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def call_status(node, client, timeout: float = 30.0) -> dict | None:
    """The recorder's ~/status answer as a dict, or None when it does not answer in time."""
    if not client.wait_for_service(timeout_sec=timeout):
        return None
    future = client.call_async(Trigger.Request())
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    return json.loads(future.result().message) if future.done() else None


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> int:
    """Signal ``proc`` and wait (kill after 20 s); return its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measurement time after the recorder is ready")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 1, help="busy-loop processes (default: one per CPU)")
    ap.add_argument("--rate", type=float, default=15.0, help="sim_camera rate, Hz")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose nodes are run (default: this one)")
    ap.add_argument("--keep", type=Path, default=None, help="keep logs and bags in this directory")
    args = ap.parse_args()

    work = Path(args.keep or tempfile.mkdtemp(prefix="recorder_tf_drops_"))
    work.mkdir(parents=True, exist_ok=True)
    ros = ["--ros-args", "-r", f"__ns:={NS}"]
    rec = start(args.repo, "selfpose_ros.ros.nodes.trajectory_recorder",
                [*ros, "-p", f"output_dir:={work / 'bags'}", "-p", "max_bag_duration_s:=0.0"], work / "recorder.log")
    cam = start(args.repo, "selfpose_ros.ros.nodes.sim_camera",
                [*ros, "-p", f"rate_hz:={args.rate}", "-p", f"width:={args.width}", "-p", f"height:={args.height}",
                 "-p", "frames:=300"], work / "sim_camera.log")
    load: list[subprocess.Popen] = []
    rclpy.init()
    node = rclpy.create_node("recorder_tf_drops")
    client = node.create_client(Trigger, f"{NS}/trajectory_recorder/status")
    published = [0]  # camera_info messages seen here: about the frames sim_camera published
    tf_late: list[float] = []  # /tf arrival here minus its stamp, s: how late TF is on the wire, in this light process
    tf_late_be: list[float] = []  # the same through a best-effort subscription (no in-order redelivery wait)

    def on_info(msg: CameraInfo) -> None:
        published[0] += 1

    def on_tf(msg: TFMessage, out: list[float]) -> None:
        now = node.get_clock().now().nanoseconds
        out.extend((now - (t.header.stamp.sec * 10**9 + t.header.stamp.nanosec)) * 1e-9 for t in msg.transforms)

    node.create_subscription(CameraInfo, f"{NS}/color/camera_info", on_info, qos_profile_sensor_data)
    node.create_subscription(TFMessage, "/tf", lambda m: on_tf(m, tf_late), TF_QOS)
    be = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
    node.create_subscription(TFMessage, "/tf", lambda m: on_tf(m, tf_late_be), be)
    try:
        first = call_status(node, client, 120.0)
        deadline = time.monotonic() + 120.0
        while first is not None and first.get("frames_received", 0) < 5 and time.monotonic() < deadline:
            time.sleep(1.0)
            first = call_status(node, client)
        if first is None or first.get("frames_received", 0) < 5:
            print(f"recorder not receiving frames; logs in {work}", file=sys.stderr)
            return 1
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
        t0 = time.monotonic()
        before = call_status(node, client)
        published[0] = 0
        tf_late.clear()
        tf_late_be.clear()
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
        after = call_status(node, client, 60.0)
        elapsed = time.monotonic() - t0
    finally:
        for p in load:
            stop(p, signal.SIGKILL)
        rc_cam = stop(cam)
        rc_rec = stop(rec)
        node.destroy_node()
        rclpy.try_shutdown()
    if before is None or after is None:
        print(f"recorder stopped answering; logs in {work}", file=sys.stderr)
        return 1

    def dropped(s: dict) -> int:
        return int(s.get("frames_dropped_tf", s.get("tf_unavailable", 0) + s.get("tf_queue_full", 0)))

    received = after["frames_received"] - before["frames_received"]
    lost = dropped(after) - dropped(before)
    kept = after.get("keyframes_kept", 0) - before.get("keyframes_kept", 0)
    pct = 100.0 * lost / max(received, 1)
    print(f"{'camera frames seen':>24}: {published[0]} in {elapsed:.0f} s ({published[0] / elapsed:.1f} Hz of "
          f"{args.rate:g} Hz asked)")
    print(f"{'frames received':>24}: {received} synchronised by the recorder ({received / elapsed:.1f} Hz)")
    print(f"{'dropped for TF':>24}: {lost} ({pct:.2f} %)")
    print(f"{'keyframes kept':>24}: {kept}")
    for name, values in (("reliable", tf_late), ("best effort", tf_late_be)):
        if values:
            late = sorted(values)
            print(f"{'TF lateness, ' + name:>24}: p50 {1e3 * late[len(late) // 2]:.0f} ms, p99 "
                  f"{1e3 * late[int(0.99 * (len(late) - 1))]:.0f} ms, max {1e3 * late[-1]:.0f} ms; "
                  f"{sum(x > 0.5 for x in late)} of {len(late)} later than 0.5 s")
    print(f"{'busy-loop processes':>24}: {args.load} on {os.cpu_count()} CPUs; exit codes camera {rc_cam}, "
          f"recorder {rc_rec}; logs in {work}")
    print(f"recorder_tf_drops: received={received} dropped_tf={lost} drop_pct={pct:.2f} load={args.load} "
          f"rate_hz={received / elapsed:.1f} camera_hz={published[0] / elapsed:.1f} "
          f"size={args.width}x{args.height} repo={args.repo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
