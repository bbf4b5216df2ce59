"""Benchmark: adapting the shipped model to a new robot, with no labels, as docs/training.md's workflow does it.

The new robot is the simulator's held-out ``target`` realism level (sim/realism.py: ``heavy`` under a warm
colour cast, a noisier depth camera and a segmenter that erodes masks): no shipped model was trained on it.

1. "Record": ``sim_camera`` (realism target, loop) -> ``trajectory_recorder``, two node processes over real DDS
   (a ROS_DOMAIN_ID of its own, localhost only), once for training and once for held-out validation frames.
   The recorder writes only the camera topics, TF and its keyframe topics: no ground truth reaches the bags.
2. Fine-tune: ``selfpose train --config config/train_adapt.yaml --init MODEL`` on those bags, with a replay
   share of simulated training trajectories (``--replay``, realism default: what the model already learnt).
3. Evaluate before and after (benchmarks/train_eval.py's predict_bag, load_gt_from_bag, evaluate) on other
   scenes of the target domain (labelled bags written by ``selfpose sim --realism target``, seeds never
   recorded) and on the original held-out ``default`` bags. Missing bags are generated under ``--root``.

    python benchmarks/adapt.py --root /tmp/adapt --scenes 4 --frames 40 --steps 150

The last line printed is
``adapt: target_10d5cm <before> -> <after> target_size <before> -> <after> default_10d5cm <before> -> <after>
minutes <m>`` (points; minutes of the fine-tuning command).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import train_eval  # noqa: E402

from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.eval.size_metrics import size_within_share  # noqa: E402

SIM_COMMON = ["--width", "320", "--height", "240", "--rate", "3", "--categories", ",".join(CATEGORIES),
              "--objects", "2-4", "--no-progress"]


def selfpose(*args: str) -> None:
    """Run one ``selfpose`` command (the real CLI) in the repository; fail loudly."""
    subprocess.run([sys.executable, "-m", "selfpose_ros.cli.main", *args], check=True, cwd=REPO)


def simulated(out: Path, realism: str, seed: int, scenes: int, frames: int) -> list[Path]:
    """Labelled bags written by ``selfpose sim`` (generated when ``out`` is absent)."""
    if not out.exists():
        print(f"generating {scenes} {realism} scenes in {out} ...", flush=True)
        selfpose("sim", "--out", str(out), "--realism", realism, "--seed", str(seed), "--scenes", str(scenes),
                 "--frames", str(frames), *SIM_COMMON)
    return sorted(p for p in ([out] if (out / "metadata.yaml").is_file() else out.iterdir())
                  if (p / "metadata.yaml").is_file())


class Node:
    """One node in its own process, output to a log file."""

    def __init__(self, module: str, args: list[str], log: Path, env: dict) -> None:
        self.log = log
        self._f = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=env, stdout=self._f,
                                     stderr=subprocess.STDOUT)

    def text(self) -> str:
        """What the node printed so far."""
        self._f.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGINT, wait (kill after 20 s); return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._f.close()
        return self.proc.returncode


def record(out: Path, seed: int, scenes: int, frames: int, timeout_s: float) -> list[Path]:
    """sim_camera (realism target) -> trajectory_recorder over DDS for ``scenes`` sequences; return the bags."""
    if out.exists() and any(out.glob("*/metadata.yaml")):
        bags = sorted(p.parent for p in out.glob("*/metadata.yaml"))
        print(f"reusing the recordings in {out}: {[b.name for b in bags]}", flush=True)
        return bags
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.SystemRandom().randint(101, 200)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    ns = ["--ros-args", "-r", "__ns:=/camera"]
    rec = Node("selfpose_ros.ros.nodes.trajectory_recorder",
               [*ns, "--params-file", str(REPO / "config" / "record.yaml"), "-p", f"output_dir:={out}",
                "-p", "min_translation:=0.02", "-p", "min_rotation_deg:=2.0", "-p", "min_free_space_mb:=10.0",
                # reliable: best-effort 320x240 images over loopback DDS lose fragments, and the gaps cut segments
                "-p", "image_qos:=reliable"],
               out / "recorder.log", env)
    time.sleep(3.0)  # the recorder subscribes before the first frame
    sim = Node("selfpose_ros.ros.nodes.sim_camera",
               [*ns, "--params-file", str(REPO / "config" / "sim_camera.yaml"), "-p", "realism:=target",
                "-p", f"seed:={seed}", "-p", f"frames:={frames}", "-p", "rate_hz:=3.0", "-p", "width:=320",
                "-p", "height:=240", "-p", "min_objects:=2", "-p", "max_objects:=4", "-p", "loop:=true",
                "-p", "publish_ground_truth:=false"],
               out / "sim_camera.log", env)
    done_marker = f"sequence seed {seed + scenes}:"
    t0 = time.monotonic()
    try:
        while done_marker not in sim.text():
            if sim.proc.poll() is not None or rec.proc.poll() is not None:
                raise SystemExit(f"a node died while recording:\n{sim.text()[-2000:]}\n{rec.text()[-2000:]}")
            if time.monotonic() - t0 > timeout_s:
                raise SystemExit(f"recording took over {timeout_s:.0f} s:\n{sim.text()[-2000:]}")
            time.sleep(0.5)
    finally:
        sim.stop()
        rc = rec.stop()
    bags = sorted(p.parent for p in out.glob("*/metadata.yaml"))
    print(f"recorded {scenes} sequences over DDS in {time.monotonic() - t0:.0f} s -> {[b.name for b in bags]} "
          f"(recorder exit {rc})", flush=True)
    if not bags:
        raise SystemExit(f"the recorder wrote no bag:\n{rec.text()[-3000:]}")
    return bags


def score(model: str, bags: list[Path], max_frames: int | None) -> dict:
    """10deg5cm mAP and size share (points) of ``model`` on ``bags``, the way train_eval.py scores."""
    report, seconds, (frames, inst, est) = train_eval.score_method(model, bags, list(CATEGORIES), max_frames,
                                                                   "cpu", 0.1)
    return {"10d5cm": 100 * report.ap["10deg5cm"]["mean"], "5d2cm": 100 * report.ap["5deg2cm"]["mean"],
            "iou50": 100 * report.ap["IoU50"]["mean"], "size": 100 * size_within_share(report.pairs)["all"],
            "frames": frames, "estimated": f"{est}/{inst}", "seconds": seconds}


def main() -> int:
    """Record, fine-tune, evaluate; print the tables and the summary line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="work folder: recordings, generated bags, the run")
    ap.add_argument("--model", default=str(REPO / "models" / "cse_6cat_rgbd.pt"), help="the model to adapt")
    ap.add_argument("--scenes", type=int, default=4, help="target sequences recorded for training")
    ap.add_argument("--val-scenes", type=int, default=2, help="target sequences recorded for validation")
    ap.add_argument("--frames", type=int, default=40, help="frames per recorded sequence")
    ap.add_argument("--eval-scenes", type=int, default=3, help="labelled target scenes for evaluation")
    ap.add_argument("--default-bags", type=Path, default=None,
                    help="held-out default bags (default <root>/heldout_default, generated when absent)")
    ap.add_argument("--replay", action="append", default=[], help="simulated bag(s) replayed during fine-tuning "
                    "(default: 3 scenes of realism default, training seeds, generated under <root>/replay)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--max-frames", type=int, default=15, help="frames per evaluation bag")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra selfpose train --set")
    args = ap.parse_args()
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)

    t_rec = time.monotonic()
    train_bags = record(root / "recorded_train", 7000, args.scenes, args.frames, 60.0 * args.scenes + 120)
    val_bags = record(root / "recorded_val", 7500, args.val_scenes, args.frames, 60.0 * args.val_scenes + 120)
    rec_min = (time.monotonic() - t_rec) / 60
    target = simulated(root / "eval_target", "target", 9100, args.eval_scenes, 30)
    default = train_eval.ensure_bags(args.default_bags or root / "heldout_default", "default")
    replay = args.replay or [str(p) for p in simulated(root / "replay", "default", 1000, 3, 40)]

    before_t, before_d = score(args.model, target, args.max_frames), score(args.model, default, args.max_frames)
    print(f"before: target {before_t}\nbefore: default {before_d}", flush=True)
    run = root / "run"
    cmd = ["train", "--config", str(REPO / "config" / "train_adapt.yaml"), "--init", args.model,
           "--set", f"data.bags=[{', '.join(map(str, train_bags))}]",
           "--set", f"data.val_bags=[{', '.join(map(str, val_bags))}]",
           "--set", f"data.replay=[{', '.join(replay)}]", "--set", f"optim.steps={args.steps}",
           "--set", f"run.out_dir={run}", *[x for o in args.overrides for x in ("--set", o)], "--quiet"]
    print("$ selfpose " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    selfpose(*cmd)
    minutes = (time.monotonic() - t0) / 60
    adapted = str(run / "model.pt")
    after_t, after_d = score(adapted, target, args.max_frames), score(adapted, default, args.max_frames)

    print(f"\nrecording {rec_min:.1f} min ({args.scenes} + {args.val_scenes} sequences x {args.frames} frames), "
          f"fine-tuning {minutes:.1f} min ({args.steps} steps at most, CPU, 1 thread)")
    print(f"{'bags':28s} {'model':8s} {'IoU50':>6s} {'5d2cm':>6s} {'10d5cm':>7s} {'size ok':>8s}  estimated")
    for name, bags, b, a in (("target (held-out scenes)", target, before_t, after_t),
                             ("default (heldout_default)", default, before_d, after_d)):
        for tag, r in (("before", b), ("after", a)):
            print(f"{name + f' x{len(bags)}':28s} {tag:8s} {r['iou50']:6.1f} {r['5d2cm']:6.1f} {r['10d5cm']:7.1f} "
                  f"{r['size']:8.1f}  {r['estimated']}")
    print(f"adapt: target_10d5cm {before_t['10d5cm']:.1f} -> {after_t['10d5cm']:.1f} "
          f"target_size {before_t['size']:.1f} -> {after_t['size']:.1f} "
          f"default_10d5cm {before_d['10d5cm']:.1f} -> {after_d['10d5cm']:.1f} "
          f"minutes {minutes:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
