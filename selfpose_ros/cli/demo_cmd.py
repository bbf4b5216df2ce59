"""`selfpose demo`: simulated RGB-D camera -> pose_estimator over real DDS -> live accuracy and a NOCS table.

Three processes on loopback in a private ROS domain: sim_camera and pose_estimator (each its own process,
configured by config/sim_camera.yaml and config/pose.yaml) and this one, which listens, prints one line
per estimated frame, and at the end prints the NOCS-style table against the simulator's ground truth.
pose_estimator fuses views in `map` (multi-view fusion; `--no-fusion` turns it off): each live line shows
an object's views and view span, and a last table compares the fused and the per-frame estimates (published
on `objects_per_frame`) on the same frames. It saves overlay images, the outputs as a short MCAP rosbag2,
JSON lines and the nodes' logs in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from selfpose_ros.ros.fastdds_profile import use_large_images_profile
from selfpose_ros.sim.realism import REALISM_LEVELS

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "/camera"
SHIPPED_MODEL = REPO / "models" / "cse_6cat_rgbd.pt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options."""
    parser.add_argument("--frames", type=int, default=20, help="estimated frames to collect before stopping")
    parser.add_argument("--timeout", type=float, default=150.0, help="stop after this many seconds regardless")
    parser.add_argument("--out", type=Path, default=Path("demo_out"),
                        help="directory for images, bag, logs (a new run replaces the previous run's files there)")
    parser.add_argument("--model", default="prior_fit",
                        help="'prior_fit' (default: the depth-only baseline, the most accurate back-end as "
                             f"measured) or a checkpoint, e.g. the shipped model {SHIPPED_MODEL.relative_to(REPO)}")
    parser.add_argument("--seed", type=int, default=7, help="simulated scene seed")
    parser.add_argument("--categories", default="bottle,bowl,camera,can,laptop,mug",
                        help="categories the simulator draws (the shipped model knows all six)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rate", type=float, default=3.0, help="simulated camera rate, Hz")
    parser.add_argument("--realism", choices=REALISM_LEVELS, default="default",
                        help="simulated sensor, segmenter and appearance realism (docs/simulator.md)")
    parser.add_argument("--no-fusion", action="store_true",
                        help="estimate every frame alone (default: multi-view fusion in 'map', compared with the "
                             "per-frame estimates on the same frames)")


def isolated_dds_env() -> dict[str, str]:
    """Return an environment that keeps DDS on loopback, in a domain of its own unless one is set."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if env.get("ROS_DISTRO") == "humble":
        env["ROS_LOCALHOST_ONLY"] = "1"
    env.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
    env.setdefault("OMP_NUM_THREADS", "1")  # two CPU-heavy nodes share the machine
    use_large_images_profile(env)  # 640x480 frames over Fast DDS shared memory: docs/pose_estimator.md
    return env


#: What a demo run writes into --out; a new run replaces these (and only these) from the previous run.
DEMO_OUTPUTS = ("outputs_bag", "overlay_*.png", "pred.jsonl", "gt.jsonl", "metrics.json", "sim_camera.log",
                "pose_estimator.log")


def replace_previous_outputs(out: Path) -> list[Path]:
    """Remove the files of an earlier demo run from ``out`` (other files stay); return what was removed."""
    removed = [p for pattern in DEMO_OUTPUTS for p in sorted(out.glob(pattern))]
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def _start(module: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", f"selfpose_ros.ros.nodes.{module}", "--ros-args", "-r", f"__ns:={NAMESPACE}",
           *args]
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=REPO)


def _frame_line(k: int, pred, gt) -> str:
    from selfpose_ros.eval.errors import error_symmetry, rotation_error_deg, translation_error_cm
    from selfpose_ros.ros.pose_messages import from_object_pose

    truth = {(o.category, o.instance_id): from_object_pose(o) for o in gt.objects}
    parts = []
    for o in pred.objects:
        e, g = from_object_pose(o), truth.get((o.category, o.instance_id))
        if g is None:
            parts.append(f"{e.frame_name}: no GT")
            continue
        rot = float(rotation_error_deg(e.R, g.R, error_symmetry(e.category)))
        fused = f" fused {e.fused_views}v {e.view_span_deg:3.0f}deg span" if e.fused else ""
        parts.append(f"{e.frame_name} {float(translation_error_cm(e.t, g.t)):4.1f}cm {rot:5.1f}deg{fused}")
    return f"[demo] frame {k:3d}: {len(pred.objects)}/{len(gt.objects)} objects | " + " | ".join(parts)


def _fusion_comparison(recorder) -> str:
    """Per-frame accuracy of the fused and the per-frame estimates on the same frames, side by side."""
    from selfpose_ros.eval.nocs_metrics import METRICS, evaluate

    fused, single, gts = recorder.compared_records()
    if not gts:
        return "\n[demo] no frame with fused, per-frame and ground-truth poses to compare"
    a, b = evaluate(fused, gts), evaluate(single, gts)
    frames = len({r.frame for r in gts})
    lines = ["", f"Fused vs per-frame estimates on the same {frames} frames (per-frame accuracy, %, all objects)",
             f"{'':10s} " + " ".join(f"{m:>8s}" for m in METRICS)]
    for name, rep in (("per-frame", b), ("fused", a)):
        lines.append(f"{name:10s} " + " ".join(f"{100 * rep.accuracy[m]['all']:8.1f}" for m in METRICS))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when frames were estimated and scored."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if replace_previous_outputs(out):
        print(f"[demo] replacing the previous demo output in {out}/")
    env = isolated_dds_env()
    os.environ.update(env)
    import rclpy

    from selfpose_ros.eval.io_jsonl import write_records
    from selfpose_ros.eval.nocs_metrics import evaluate
    from selfpose_ros.eval.report_table import format_table, report_to_json
    from selfpose_ros.ros.output_recorder import OutputRecorder

    cats = "[" + ", ".join(c.strip() for c in args.categories.split(",")) + "]"
    sim = _start("sim_camera", ["--params-file", str(REPO / "config" / "sim_camera.yaml"),
                                "-p", f"seed:={args.seed}", "-p", f"rate_hz:={args.rate}",
                                "-p", f"width:={args.width}", "-p", f"height:={args.height}",
                                "-p", f"categories:={cats}", "-p", "max_objects:=4",
                                "-p", f"realism:={args.realism}"], env, out / "sim_camera.log")
    fusion = [] if args.no_fusion else ["-p", "fusion_frame:=map", "-p", "publish_per_frame_objects:=true"]
    est = _start("pose_estimator", ["--params-file", str(REPO / "config" / "pose.yaml"),
                                    "-p", f"model:={args.model}", "-p", "device:=auto",
                                    "-p", "gravity_frame:=map", "-p", "ego_bias_frame:=map", *fusion], env,
                 out / "pose_estimator.log")
    print(f"[demo] ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} (loopback only); sim_camera and pose_estimator started "
          f"(logs in {out}/); collecting {args.frames} frames")
    rclpy.init()
    node = rclpy.create_node("selfpose_demo")
    recorder = OutputRecorder(node, NAMESPACE, out, per_frame=not args.no_fusion)
    printed: set[int] = set()
    t0 = time.monotonic()
    status = 0
    try:
        while len(recorder.evaluated_frames()) < args.frames and time.monotonic() - t0 < args.timeout:
            rclpy.spin_once(node, timeout_sec=0.1)
            for stamp in recorder.evaluated_frames():
                if stamp not in printed:
                    printed.add(stamp)
                    print(_frame_line(len(printed), recorder.predictions[stamp], recorder.ground_truth[stamp]),
                          flush=True)
            for name, proc in (("sim_camera", sim), ("pose_estimator", est)):
                if proc.poll() is not None:
                    print(f"[demo] {name} exited with {proc.returncode}; see {out}/{name}.log", file=sys.stderr)
                    status = 1
            if status:
                break
    finally:
        node.destroy_node()
        rclpy.shutdown()
        for proc in (sim, est):
            proc.terminate()
        for proc in (sim, est):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    elapsed = time.monotonic() - t0
    preds, gts = recorder.records()
    if not gts:
        print(f"[demo] FAILED: no estimated frames in {elapsed:.0f} s; see the logs in {out}/", file=sys.stderr)
        return 1
    report = evaluate(preds, gts)
    print()
    print(format_table(report))
    if not args.no_fusion:
        print(_fusion_comparison(recorder))
    (out / "metrics.json").write_text(json.dumps(report_to_json(report), indent=1))
    for name, records in (("pred.jsonl", preds), ("gt.jsonl", gts)):
        write_records(out / name, records)
    n_msgs = recorder.write_bag(out / "outputs_bag")
    n_frames = len(recorder.evaluated_frames())
    print(f"\n[demo] {n_frames} frames estimated in {elapsed:.0f} s ({n_frames / elapsed:.2f} frames/s end to end); "
          f"mean {np.mean([len(m.objects) for m in recorder.predictions.values()]):.1f} objects per frame")
    print(f"[demo] saved {len(recorder.images_saved)} overlay images, {n_msgs} messages in {out}/outputs_bag, "
          f"pred.jsonl/gt.jsonl (re-score: selfpose eval --pred {out}/pred.jsonl --gt {out}/gt.jsonl)")
    return status
