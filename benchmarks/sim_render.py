"""Simulator frame rate at 640x480 with 1 and 5 objects, per stage, and ray casting against a peer.

Run: .venv/bin/python benchmarks/sim_render.py [--frames 30] [--width 640 --height 480]

Stages: raycast (Open3D RaycastingScene, Embree), shading (albedo + Lambert), sensor (depth noise model),
encoding (segmentation labels + 16UC1), ground_truth (poses + visibility casts), serialise (CDR of the
rgb / depth / segmentation messages, as the bag writer does). The peer is trimesh's Embree ray
intersector (embreex) casting the same rays into the same meshes, first hits only.
Wall time on a shared machine depends on its load; the script prints the load average and the process
CPU time as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfpose_ros.data.typestore import get_typestore  # noqa: E402
from selfpose_ros.sim.messages import MessageFactory  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402

STAGES = ("raycast", "shading", "sensor", "encoding", "ground_truth", "serialise")


def serialise(make: MessageFactory, frame) -> None:
    """CDR-serialise the three images of a frame."""
    store = make.store
    for array, enc in ((frame.rgb, "rgb8"), (frame.depth_mm, "16UC1"), (frame.segmentation, "32SC1")):
        store.serialize_cdr(make.image(array, enc, frame.stamp_ns), "sensor_msgs/msg/Image")


def run_sim(n_objects: int, frames: int, width: int, height: int, seed: int) -> tuple[SimScene, dict[str, float]]:
    """Render ``frames`` frames; return the simulator and median per-stage seconds plus totals."""
    config = SimConfig(width=width, height=height, num_frames=frames + 1,
                       scene=SceneConfig(min_objects=n_objects, max_objects=n_objects))
    sim = SimScene(config, seed=seed)
    make = MessageFactory(get_typestore())
    sim.render(0)  # builds Embree's acceleration structure
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    frame_walls, last = [], time.perf_counter()
    for frame in sim.frames(1, frames + 1):
        t = time.perf_counter()
        serialise(make, frame)
        sim.timings["serialise"] = time.perf_counter() - t
        for s in STAGES:
            per_stage[s].append(sim.timings[s])
        now = time.perf_counter()
        frame_walls.append(now - last)
        last = now
    result = {s: float(np.median(v)) for s, v in per_stage.items()}
    result["best_frame"] = float(np.min(frame_walls))
    result["wall_per_frame"] = (time.perf_counter() - wall0) / frames
    result["cpu_per_frame"] = (time.process_time() - cpu0) / frames
    return sim, result


def peer_raycast(sim: SimScene, frames: int) -> tuple[float, float]:
    """Median seconds per frame for (our cast, trimesh+embreex cast) of the same rays; checks they agree."""
    import trimesh
    from trimesh.ray.ray_pyembree import RayMeshIntersector

    meshes = [p.mesh for p in sim.scene.environment]
    meshes += [trimesh.Trimesh(o.vertices_in_map(), o.shape.mesh.faces, process=False) for o in sim.scene.objects]
    peer = RayMeshIntersector(trimesh.util.concatenate(meshes))
    ours, theirs = [], []
    for i in range(1, frames + 1):
        T = sim.T_map_optical[i]
        t = time.perf_counter()
        hits = sim.raycaster.cast(T)
        ours.append(time.perf_counter() - t)
        origins = np.broadcast_to(T[:3, 3], hits.directions.shape)
        t = time.perf_counter()
        loc, ray_idx, _ = peer.intersects_location(origins, hits.directions, multiple_hits=False)
        depth = np.zeros(len(hits.depth))
        depth[ray_idx] = (loc - T[:3, 3]) @ T[:3, 2]
        theirs.append(time.perf_counter() - t)
        agree = np.abs(depth - np.where(hits.geometry >= 0, hits.depth, 0.0)) < 1e-3
        if agree.mean() < 0.99:
            raise RuntimeError(f"peer and Open3D disagree on {100 * (1 - agree.mean()):.2f}% of depths")
    return float(np.median(ours)), float(np.median(theirs))


def main(argv: list[str] | None = None) -> int:
    """Print per-stage timings, frame rates and the ray-casting ratio against the peer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.2f}; {args.width}x{args.height}, "
          f"{args.frames} frames per case")
    print("median ms per stage; wall/cpu ms per frame (cpu: all threads of this process)")
    print("objects " + " ".join(f"{s:>12}" for s in STAGES) + "   wall ms  cpu ms   fps (wall)  fps (best frame)")
    sims = {}
    for n in (1, 5):
        sim, r = run_sim(n, args.frames, args.width, args.height, args.seed)
        sims[n] = sim
        stages = " ".join(f"{1000 * r[s]:12.1f}" for s in STAGES)
        print(f"{n:7d} {stages}  {1000 * r['wall_per_frame']:8.1f} {1000 * r['cpu_per_frame']:7.1f}"
              f"   {1 / r['wall_per_frame']:6.1f}   {1 / r['best_frame']:6.1f}")
    ours, theirs = peer_raycast(sims[5], min(args.frames, 10))
    print(f"raycast 5 objects: Open3D RaycastingScene {1000 * ours:.1f} ms, trimesh+embreex {1000 * theirs:.1f} ms, "
          f"ratio peer/ours = {theirs / ours:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
