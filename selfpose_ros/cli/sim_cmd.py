"""`selfpose sim`: render a seeded, labelled tabletop trajectory into an MCAP rosbag2."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from selfpose_ros.conventions import CATEGORIES
from selfpose_ros.sim.realism import REALISM_LEVELS


def _object_range(text: str) -> tuple[int, int]:
    parts = text.split("-")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        lo, hi = 0, -1
    if not 1 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"--objects wants N or MIN-MAX with 1 <= MIN <= MAX, got {text!r}")
    return lo, hi


def _categories(text: str) -> tuple[str, ...]:
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in names if c not in CATEGORIES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown categories {unknown or text!r}; choose from {','.join(CATEGORIES)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the sim command's options."""
    parser.add_argument("--out", type=Path, required=True,
                        help="bag directory to create (with --scenes K > 1: parent of scene_000 ... bags)")
    parser.add_argument("--frames", type=int, default=100, help="frames per scene (default 100)")
    parser.add_argument("--categories", type=_categories, default=CATEGORIES,
                        help=f"comma-separated categories to draw objects from (default {','.join(CATEGORIES)})")
    parser.add_argument("--objects", type=_object_range, default=(1, 6), help="objects per scene, N or MIN-MAX")
    parser.add_argument("--seed", type=int, default=0, help="random seed; scene k uses seed + k")
    parser.add_argument("--scenes", type=int, default=1, help="number of scenes (bags) to write")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--hfov", type=float, default=69.0, help="horizontal field of view in degrees")
    parser.add_argument("--rate", type=float, default=15.0, help="frame rate in Hz")
    parser.add_argument("--trajectory", choices=("random", "orbit", "arc", "spline"), default="random")
    parser.add_argument("--depth-float", action="store_true", help="also write 32FC1 depth in metres")
    parser.add_argument("--ideal-depth", action="store_true",
                        help="no depth noise, holes, quantisation or other depth artefacts (whatever --realism says)")
    parser.add_argument("--realism", choices=REALISM_LEVELS, default="default",
                        help="sensor, segmenter and appearance realism (docs/simulator.md); 'none' is the clean "
                             "simulator (default: default)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Write the requested bags; return 0 on success."""
    from selfpose_ros.sim.bag_writer import write_sim_bag
    from selfpose_ros.sim.depth_sensor import DepthSensorModel
    from selfpose_ros.sim.realism import DepthArtefacts, realism_preset
    from selfpose_ros.sim.scene import SceneConfig
    from selfpose_ros.sim.simulator import SimConfig, SimScene

    if args.frames < 1 or args.scenes < 1 or args.seed < 0:
        raise ValueError("--frames and --scenes must be >= 1 and --seed >= 0")
    scene = SceneConfig(categories=args.categories, min_objects=args.objects[0], max_objects=args.objects[1])
    config = SimConfig(
        width=args.width, height=args.height, hfov_deg=args.hfov, rate_hz=args.rate, num_frames=args.frames,
        trajectory=args.trajectory, scene=scene,
        sensor=DepthSensorModel.ideal(max_range=DepthSensorModel().max_range) if args.ideal_depth
        else DepthSensorModel(),
        realism=replace(realism_preset(args.realism), depth=DepthArtefacts()) if args.ideal_depth
        else realism_preset(args.realism),
    )
    out = Path(args.out)
    paths = [out] if args.scenes == 1 else [out / f"scene_{k:03d}" for k in range(args.scenes)]
    for k, path in enumerate(paths):
        if path.exists():
            raise ValueError(f"{path} already exists; choose a new --out")
        path.parent.mkdir(parents=True, exist_ok=True)
        sim = SimScene(config, seed=args.seed + k)
        counts = write_sim_bag(sim, path, depth_float=args.depth_float, progress=not args.no_progress)
        kinds = ", ".join(o.category for o in sim.scene.objects)
        print(f"{path}: {args.frames} frames, {sim.trajectory_kind} trajectory, realism {args.realism}, "
              f"objects: {kinds}; "
              f"{sum(counts.values())} messages")
    return 0
