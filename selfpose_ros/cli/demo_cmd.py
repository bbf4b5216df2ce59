"""`selfpose demo`: a publisher node in its own process -> DDS -> this process, printed live.

Current scope: the pose_publisher node (configured by config/pose_publisher.yaml) publishes objects
and TF; this command subscribes over real DDS on loopback, prints one line per received frame and a
final table. It grows into simulated camera -> pose_estimator -> accuracy table as those parts land.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options."""
    parser.add_argument("--frames", type=int, default=20, help="frames to receive before stopping")
    parser.add_argument("--params-file", type=Path, default=REPO / "config" / "pose_publisher.yaml")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")


def _isolated_dds_env() -> dict[str, str]:
    """Return an environment that keeps DDS on loopback in a domain of its own."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if env.get("ROS_DISTRO") == "humble":
        env["ROS_LOCALHOST_ONLY"] = "1"
    env.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
    return env


def run(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when every frame arrived."""
    env = _isolated_dds_env()
    os.environ.update(env)  # this process joins the same domain
    import rclpy

    from selfpose_ros.msg import ObjectPoseArray

    node_cmd = [sys.executable, "-m", "selfpose_ros.ros.nodes.pose_publisher",
                "--ros-args", "--params-file", str(args.params_file)]
    print(f"[demo] ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} (loopback only); starting: {' '.join(node_cmd[1:4])}")
    proc = subprocess.Popen(node_cmd, env=env)
    rclpy.init()
    node = rclpy.create_node("selfpose_demo")
    frames: list = []
    t0 = time.monotonic()

    def on_objects(msg: ObjectPoseArray) -> None:
        frames.append(msg)
        latency = node.get_clock().now().nanoseconds - (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
        names = ", ".join(f"{o.category}_{o.instance_id}" for o in msg.objects)
        print(f"[demo] frame {len(frames):3d}  {len(msg.objects)} objects ({names})  latency {latency / 1e6:.2f} ms")

    node.create_subscription(ObjectPoseArray, "/objects", on_objects, 10)
    try:
        while len(frames) < args.frames and time.monotonic() - t0 < args.timeout and proc.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        proc.terminate()
        proc.wait(10)
    if len(frames) < args.frames:
        print(f"[demo] FAILED: received {len(frames)}/{args.frames} frames", file=sys.stderr)
        return 1
    print(f"\n{'object':<14}{'x (m)':>8}{'y (m)':>8}{'z (m)':>8}{'size (cm)':>22}{'scale':>8}")
    for o in frames[-1].objects:
        p, s = o.pose.position, o.size
        size = f"{s.x * 100:.1f} x {s.y * 100:.1f} x {s.z * 100:.1f}"
        print(f"{o.category + '_' + str(o.instance_id):<14}{p.x:8.3f}{p.y:8.3f}{p.z:8.3f}{size:>22}{o.scale:8.3f}")
    print(f"[demo] OK: {len(frames)} frames over DDS in {time.monotonic() - t0:.1f} s")
    return 0
