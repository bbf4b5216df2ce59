"""Benchmark: what multi-view fusion costs per object and frame, its peers, and its memory over a long soak.

1. A simulated 640x480 sequence at 15 Hz (a camera orbiting 3 objects) is rendered and estimated once
   (depth-only back-end, through the frame pipeline without fusion); then the fusion stage alone runs on
   those frames and estimates: milliseconds per object and frame (wall and this thread's CPU: fair on a
   loaded machine), against the back-end's own time per object.
2. Peers, measured in the same run on the same data: accumulating a track's cloud with our VoxelCloud vs
   Open3D's ``voxel_down_sample`` on the concatenated cloud; the seeded upright refit vs Open3D's ICP with
   scale (``geometry.icp.refine_pose_icp``) from the same seed.
3. Soak: ``--soak-minutes`` of frames at 15 Hz fed to the fusion stage (the sequence replayed, stamps running
   on); the largest track's bytes (``FusedTrack.nbytes``) and the Python heap peak (tracemalloc) are printed
   against the documented bound (``track_bytes_bound``: 40 bytes x fusion_max_points + two 256 x 3 float64
   direction arrays + 64 x 3 float64 single-view votes).

    python benchmarks/fusion_cost.py [--frames 90] [--soak-minutes 10]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.data.frame import RGBDFrame  # noqa: E402
from selfpose_ros.inference.backends import make_estimator  # noqa: E402
from selfpose_ros.inference.estimator import SolverOptions  # noqa: E402
from selfpose_ros.inference.fusion import MultiViewFusion, object_points  # noqa: E402
from selfpose_ros.inference.fusion_track import FusionConfig, track_bytes_bound  # noqa: E402
from selfpose_ros.inference.pipeline import FramePipeline, PipelineConfig  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402

RATE_HZ = 15.0


def estimated_frames(n: int, seed: int) -> list[tuple[RGBDFrame, np.ndarray, list, list, float]]:
    """(frame, T_map_camera, estimates, masks, estimator seconds) of a rendered, estimated sequence."""
    scene = SceneConfig(categories=("mug", "bowl", "can", "bottle", "camera", "laptop"), min_objects=3, max_objects=3)
    sim = SimScene(SimConfig(num_frames=n, rate_hz=RATE_HZ, trajectory="orbit", scene=scene), seed)
    pipe = FramePipeline(make_estimator("prior_fit", list(CATEGORIES), SolverOptions()), PipelineConfig(CATEGORIES))
    out = []
    for f in sim.frames():
        up = f.T_map_optical[:3, :3].T @ np.array([0.0, 0.0, 1.0])
        frame = RGBDFrame(f.rgb, f.depth_m, f.segmentation, f.K, "camera", f.stamp_ns, up)
        t0 = time.perf_counter()
        result = pipe.process(frame)
        out.append((frame, f.T_map_optical, result.estimates, result.masks, time.perf_counter() - t0))
    return out


def fusion_cost(frames: list) -> dict:
    """Run the fusion stage over the frames; return its counters and per-object times."""
    fusion = MultiViewFusion(FusionConfig(frame="map"))
    per_call = []
    for frame, T, estimates, masks, _ in frames:
        if estimates:
            t0 = time.thread_time()
            fusion.update(frame, T, estimates, masks)
            per_call.append((time.thread_time() - t0) / len(estimates))
    s = fusion.stats
    objects = max(s["objects"], 1)
    return {"wall_ms": 1e3 * s["wall_s"] / objects, "cpu_ms": 1e3 * s["cpu_s"] / objects,
            "cpu_p95_ms": 1e3 * float(np.percentile(per_call, 95)), "searches": s["searches"],
            "refits": s["refits"], "objects": s["objects"], "fusion": fusion}


def peer_voxels(frames: list) -> tuple[float, float]:
    """Seconds to accumulate every view's object points: our VoxelCloud vs Open3D voxel_down_sample."""
    import open3d as o3d

    from selfpose_ros.geometry.voxel_cloud import VoxelCloud

    views = []
    for frame, T, estimates, masks, _ in frames:
        if estimates:
            pts = object_points(frame, masks[0], estimates[0])
            views.append(pts @ T[:3, :3].T + T[:3, 3])
    t0 = time.perf_counter()
    cloud = VoxelCloud(0.004, 3000)
    for pts in views:
        cloud.add(pts)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = o3d.geometry.PointCloud()
    for pts in views:
        acc.points.extend(o3d.utility.Vector3dVector(pts))
        acc = acc.voxel_down_sample(0.004)
    return ours, time.perf_counter() - t0


def peer_refit(fusion: MultiViewFusion, repeats: int = 5) -> tuple[float, float]:
    """Seconds per seeded refit of the largest fused track: upright ICP vs Open3D ICP with scale."""
    from selfpose_ros.geometry.fused_fit import FusedFitOptions, fit_prior_to_fused_cloud
    from selfpose_ros.geometry.icp import RefinementBounds, refine_pose_icp
    from selfpose_ros.geometry.pose_fit import PoseFit

    track = max(fusion.tracks, key=lambda t: len(t.cloud))
    prior = fusion._prior(track.category)[0]
    pts = track.cloud.points[:: max(1, len(track.cloud) // 800)]
    seed = (track.scale, track.R, track.t)
    up = np.array([0.0, 0.0, 1.0])
    options = FusedFitOptions(max_points=800, upright_snap_deg=30.0)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fit_prior_to_fused_cloud(prior, pts, up=up, options=options, seeds=[seed], search=False)
    ours = (time.perf_counter() - t0) / repeats
    start = PoseFit(True, track.scale, track.R, track.t, np.ones(len(pts), bool), 1.0, 1.0, len(pts))
    unbounded = RefinementBounds(np.inf, np.inf, np.inf)
    t0 = time.perf_counter()
    for _ in range(repeats):
        refine_pose_icp(start, prior, pts, max_correspondence_distance=0.01, refine_scale=True, max_iterations=30,
                        bounds=unbounded)
    return ours, (time.perf_counter() - t0) / repeats


def soak(frames: list, minutes: float, config: FusionConfig) -> tuple[int, int, int, float]:
    """(largest track bytes, its bound, heap peak bytes, seconds) after ``minutes`` of 15 Hz frames."""
    fusion = MultiViewFusion(config)
    n = int(minutes * 60 * RATE_HZ)
    step = int(1e9 / RATE_HZ)
    bound = track_bytes_bound(config.max_points)
    worst = 0
    tracemalloc.start()
    t0 = time.perf_counter()
    for k in range(n):
        frame, T, estimates, masks, _ = frames[k % len(frames)]
        stamp = frames[0][0].stamp_ns + k * step
        replay = RGBDFrame(frame.rgb, frame.depth, frame.labels, frame.K, frame.frame_id, stamp, frame.up)
        fusion.update(replay, T, estimates, masks)
        worst = max([worst] + [t.nbytes for t in fusion.tracks])
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return worst, bound, peak, seconds


def main() -> int:
    """Print cost, peer ratios and the soak's memory."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--soak-minutes", type=float, default=10.0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    frames = estimated_frames(args.frames, args.seed)
    objects = sum(len(e) for _, _, e, _, _ in frames)
    estimator_ms = 1e3 * sum(s for *_, s in frames) / max(objects, 1)
    print(f"{args.frames} frames at 640x480, {objects} object-frames rendered and estimated in "
          f"{time.perf_counter() - t0:.0f} s; back-end (prior_fit) {estimator_ms:.1f} ms wall per object")
    cost = fusion_cost(frames)
    print(f"fusion stage: {cost['wall_ms']:.1f} ms wall, {cost['cpu_ms']:.1f} ms CPU (p95 {cost['cpu_p95_ms']:.1f}) "
          f"per object per frame over {cost['objects']} object-frames; {cost['searches']} searches, "
          f"{cost['refits']} seeded refits; = {cost['wall_ms'] / estimator_ms:.2f}x the back-end's time")
    ours, peer = peer_voxels(frames)
    print(f"accumulate clouds: VoxelCloud {1e3 * ours:.1f} ms, Open3D voxel_down_sample {1e3 * peer:.1f} ms "
          f"(ratio ours/peer {ours / peer:.2f})")
    ours, peer = peer_refit(cost["fusion"])
    print(f"seeded refit: upright ICP (2 passes) {1e3 * ours:.1f} ms, Open3D ICP with scale {1e3 * peer:.1f} ms "
          f"(ratio ours/peer {ours / peer:.2f})")
    if args.soak_minutes > 0:
        worst, bound, peak, seconds = soak(frames, args.soak_minutes, FusionConfig(frame="map"))
        print(f"soak: {args.soak_minutes:g} min of 15 Hz frames ({int(args.soak_minutes * 900)} frames) in "
              f"{seconds:.0f} s; largest track {worst / 1024:.1f} kB (bound {bound / 1024:.1f} kB); Python heap "
              f"peak {peak / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
