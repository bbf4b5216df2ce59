"""Soak: sim_camera at 30 Hz into pose_estimator for 10 minutes; memory growth, dropped frames, processing errors.

Both nodes run in their own processes over real DDS (loopback, a private domain), as in deployment, with the
shipped model. RSS (resident memory, /proc) of each node is sampled every 30 s; "start" is taken after a
warm-up minute (model loaded, first frames processed), "end" at the last sample. Frames are counted at every
stage: published by the camera (its ground truth messages), received by the estimator as synchronised sets,
processed, dropped by the worker's queue of one while busy (by design: the latest frame wins), rejected by
the input checks, and failed with a processing error. Goal: RSS growth < 5 % and no processing error.
sim_camera renders one second of frames and then replays them (repeat_sequence) with fresh stamps, so that it
can publish at 30 Hz on a machine where rendering a 640x480 frame takes longer than 33 ms.

Usage: python benchmarks/soak.py [--minutes 10] [--rate 30] [--model models/cse_6cat_rgbd.pt] [--device cpu]
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

from selfpose_ros.ros.fastdds_profile import use_large_images_profile

REPO = Path(__file__).resolve().parents[1]
NS = "/soak"
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
use_large_images_profile(os.environ)  # before rclpy creates a participant; the nodes inherit it

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from selfpose_ros.msg import ObjectPoseArray  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Monitor:
    """Counts the camera's frames and the estimator's outputs, keeps its latest /diagnostics."""

    def __init__(self) -> None:
        self.node = rclpy.create_node("soak_monitor")
        self.published = 0
        self.outputs = 0
        self.diag: dict[str, str] = {}
        self.node.create_subscription(ObjectPoseArray, f"{NS}/ground_truth/objects", self._on_gt, QoSProfile(depth=50))
        self.node.create_subscription(ObjectPoseArray, f"{NS}/objects", self._on_objects, QoSProfile(depth=50))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_gt(self, _msg: ObjectPoseArray) -> None:
        self.published += 1

    def _on_objects(self, _msg: ObjectPoseArray) -> None:
        self.outputs += 1

    def _on_diag(self, arr: DiagnosticArray) -> None:
        for status in arr.status:
            if status.name.endswith("pose_estimator"):
                self.diag = {kv.key: kv.value for kv in status.values}

    def spin_for(self, seconds: float) -> None:
        """Spin for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def counts(self) -> dict[str, int]:
        """The estimator's counters from its latest diagnostics."""
        keys = ("frames_processed", "frames_dropped", "frames_rejected", "processing_errors")
        return {k: int(self.diag.get(k, 0)) for k in keys}


def main() -> int:
    """Run the soak and print its report; exit 1 if a goal is missed or a node died."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="duration after the warm-up minute")
    ap.add_argument("--rate", type=float, default=30.0, help="sim_camera rate, Hz")
    ap.add_argument("--model", default="models/cse_6cat_rgbd.pt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the start RSS is taken")
    args = ap.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="selfpose_soak_"))
    common = ["--ros-args", "-r", f"__ns:={NS}"]
    sim_log, est_log = (logs / "sim_camera.log").open("wb"), (logs / "pose_estimator.log").open("wb")
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selfpose_ros.ros.nodes.sim_camera",
            *common,
            "--params-file",
            str(REPO / "config" / "sim_camera.yaml"),
            "-p",
            f"rate_hz:={args.rate}",
            "-p",
            "categories:=[bottle, bowl, can, mug]",
            "-p",
            "max_objects:=4",
            # render one 1 s sequence, then replay it with fresh stamps: rendering 640x480 is slower than 30 Hz here
            "-p",
            f"frames:={max(int(args.rate), 1)}",
            "-p",
            "repeat_sequence:=true",
        ],
        cwd=REPO,
        stdout=sim_log,
        stderr=subprocess.STDOUT,
    )
    est = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selfpose_ros.ros.nodes.pose_estimator",
            *common,
            "--params-file",
            str(REPO / "config" / "pose.yaml"),
            "-p",
            f"model:={args.model}",
            "-p",
            f"device:={args.device}",
            "-p",
            "gravity_frame:=map",
        ],
        cwd=REPO,
        stdout=est_log,
        stderr=subprocess.STDOUT,
    )
    print(
        f"soak: sim_camera at {args.rate:g} Hz (640x480) -> pose_estimator ({args.model}, {args.device}) for "
        f"{args.minutes:g} min after a {args.warmup:g} s warm-up; logs in {logs}",
        flush=True,
    )
    rclpy.init()
    mon = Monitor()
    status = 0
    try:
        mon.spin_for(args.warmup)
        if sim.poll() is not None or est.poll() is not None:
            raise RuntimeError("a node exited during the warm-up")
        start = {
            "t": time.monotonic(),
            "published": mon.published,
            "outputs": mon.outputs,
            **mon.counts(),
            "rss_est": rss_mb(est.pid),
            "rss_sim": rss_mb(sim.pid),
        }
        print(f"start: estimator RSS {start['rss_est']:.0f} MB, sim_camera RSS {start['rss_sim']:.0f} MB", flush=True)
        end_t = start["t"] + 60.0 * args.minutes
        samples = [start["rss_est"]]  # estimator RSS every 30 s
        while time.monotonic() < end_t:
            mon.spin_for(min(30.0, max(0.0, end_t - time.monotonic())))
            if sim.poll() is not None or est.poll() is not None:
                raise RuntimeError(f"a node exited (sim_camera {sim.poll()}, pose_estimator {est.poll()})")
            c = mon.counts()
            samples.append(rss_mb(est.pid))
            print(
                f"  {(time.monotonic() - start['t']) / 60:5.1f} min: estimator RSS {rss_mb(est.pid):.0f} MB, "
                f"sim RSS {rss_mb(sim.pid):.0f} MB, published {mon.published - start['published']}, processed "
                f"{c['frames_processed'] - start['frames_processed']}, errors {c['processing_errors']}",
                flush=True,
            )
        end = {
            "t": time.monotonic(),
            "published": mon.published,
            "outputs": mon.outputs,
            **mon.counts(),
            "rss_est": rss_mb(est.pid),
            "rss_sim": rss_mb(sim.pid),
        }
    except RuntimeError as exc:
        print(f"soak: FAILED: {exc}; see {logs}", file=sys.stderr)
        status, end = 1, None
    finally:
        mon.node.destroy_node()
        rclpy.shutdown()
        for proc in (sim, est):
            proc.terminate()
        for proc in (sim, est):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        sim_log.close()
        est_log.close()
    if end is None:
        return status
    d = {
        k: end[k] - start[k] for k in ("published", "outputs", "frames_processed", "frames_dropped", "frames_rejected")
    }
    minutes = (end["t"] - start["t"]) / 60.0
    received = d["frames_processed"] + d["frames_dropped"] + d["frames_rejected"]
    growth_est = 100.0 * (end["rss_est"] / start["rss_est"] - 1.0)
    growth_sim = 100.0 * (end["rss_sim"] / start["rss_sim"] - 1.0)
    log_text = (logs / "pose_estimator.log").read_text(errors="replace")
    tracebacks = log_text.count("Traceback")
    print(f"\nsoak over {minutes:.1f} min (after warm-up), model {args.model}, device {args.device}")
    print(
        f"  pose_estimator RSS: start {start['rss_est']:.1f} MB, end {end['rss_est']:.1f} MB, growth "
        f"{growth_est:+.2f} %"
    )
    print(
        f"  sim_camera RSS:     start {start['rss_sim']:.1f} MB, end {end['rss_sim']:.1f} MB, "
        f"growth {growth_sim:+.2f} %"
    )
    print(
        f"  frames: published {d['published']} ({d['published'] / (60 * minutes):.1f} Hz), received as "
        f"synchronised sets {received}, processed {d['frames_processed']} "
        f"({d['frames_processed'] / (60 * minutes):.2f} Hz), dropped while busy {d['frames_dropped']}, "
        f"rejected {d['frames_rejected']}, lost before the estimator {max(d['published'] - received, 0)}"
    )
    half = samples[len(samples) // 2 :]
    print(
        f"  pose_estimator RSS over the second half: {half[0]:.1f} -> {half[-1]:.1f} MB "
        f"({100.0 * (half[-1] / half[0] - 1.0):+.2f} %), largest 30 s step "
        f"{max((b - a for a, b in zip(samples, samples[1:])), default=0.0):+.1f} MB"
    )
    print(f"  processing errors: {end['processing_errors']} (diagnostics), tracebacks in the log: {tracebacks}")
    ok = growth_est < 5.0 and end["processing_errors"] == 0 and tracebacks == 0
    print(
        f"soak: rss_growth_pct={growth_est:.2f} processing_errors={end['processing_errors']} "
        f"processed={d['frames_processed']} dropped={d['frames_dropped']} "
        f"lost={max(d['published'] - received, 0)} {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
