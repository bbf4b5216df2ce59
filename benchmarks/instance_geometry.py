"""Benchmark: the per-frame instance geometry (support plane, object surfaces) against the Open3D peers
it could have used, on the same simulated 640x480 tabletop frames.

Run: ``python benchmarks/instance_geometry.py [--frames 8] [--width 640 --height 480]``.
- Support plane: ours (``geometry.support_plane.support_plane``: grid subsampling, vectorised RANSAC with
  adaptive stopping, up to 3 planes, choice of the support) vs Open3D ``segment_plane`` on the same
  back-projected points outside the masks (same inlier distance at 1 m, same iteration cap; one plane
  only, so it does less work and no choice). Printed: median time and the up error against the
  simulator's truth (Open3D's largest plane, oriented towards the camera).
- Object surfaces: ours (``geometry.instance_surface.object_surfaces``: discontinuity map, 4-connected
  pieces, core seeds, KD-tree growth) vs Open3D ``cluster_dbscan`` (eps = our link distance, min 10
  points) on each mask's points, largest cluster kept, with every mask dilated by 10 px onto a background
  0.3 m behind. Printed: median time per frame and the share of kept points that are background. Ours runs
  with the node's mask reach (``SolverOptions.mask_reach_px``, ``geometry.surface_reach``).
- Object surfaces of eroded masks: every mask eroded by 4 px (a segmenter that falls short of the silhouette);
  ours with the node's reach, which grows the surface back beyond the mask, vs the same Open3D clustering,
  which cannot. Printed: median time and the share of the object's depth pixels recovered.
The ratio column is peer time / our time (> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import cv2
import numpy as np
import open3d as o3d

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "helpers"))

from bleeding import bleed  # noqa: E402

from selfpose_ros.geometry.instance_surface import SurfaceOptions, object_surfaces  # noqa: E402
from selfpose_ros.geometry.pinhole import backproject_np  # noqa: E402
from selfpose_ros.geometry.support_plane import PlaneOptions, support_plane  # noqa: E402
from selfpose_ros.geometry.surface_reach import ReachOptions, reach_surfaces  # noqa: E402
from selfpose_ros.inference.estimator import SolverOptions  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0))))


def _timed(fn, repeat: int):
    best, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best.append(time.perf_counter() - t0)
    return min(best), out


def _o3d_plane(points: np.ndarray, opts: PlaneOptions) -> np.ndarray:
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    (a, b, c, d), _ = cloud.segment_plane(opts.threshold_m + opts.threshold_rel, 3, opts.iterations)
    n = np.array([a, b, c])
    return n if d > 0 else -n


def _o3d_surfaces(depth: np.ndarray, K: np.ndarray, masks: np.ndarray, eps: float) -> list[np.ndarray]:
    kept = []
    for m in masks:
        pts = backproject_np(depth, K, m)
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        labels = np.asarray(cloud.cluster_dbscan(eps, 10))
        if (labels >= 0).any():
            kept.append(pts[labels == np.bincount(labels[labels >= 0]).argmax()])
        else:
            kept.append(np.zeros((0, 3)))
    return kept


def main() -> int:
    """Run both comparisons and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--repeat", type=int, default=3, help="runs per frame; the fastest counts")
    args = ap.parse_args()
    popts, sopts, reach = PlaneOptions(), SurfaceOptions(), SolverOptions().reach()
    rows = {k: [] for k in ("ours_plane", "o3d_plane", "ours_err", "o3d_err", "ours_surf", "o3d_surf", "ours_bg",
                            "o3d_bg", "ours_ero", "o3d_ero", "ours_rec", "o3d_rec")}
    for seed in range(args.frames):
        cfg = SimConfig(
            width=args.width,
            height=args.height,
            num_frames=1,
            scene=SceneConfig(categories=("bottle", "bowl", "can", "mug"), min_objects=3, max_objects=5),
        )
        f = SimScene(cfg, seed=100 + seed).render(0)
        up_true = f.T_map_optical[2, :3]
        labels = np.unique(f.segmentation)
        labels = labels[labels > 0]
        masks = np.stack([f.segmentation == v for v in labels])
        t, info = _timed(lambda m=masks, fr=f: support_plane(fr.depth_m, fr.K, m, options=popts), args.repeat)
        rows["ours_plane"].append(t)
        rows["ours_err"].append(_angle(info.plane.normal, up_true) if info.plane is not None else np.nan)
        grid = np.zeros(f.depth_m.shape, bool)
        grid[:: popts.stride, :: popts.stride] = True
        pts = backproject_np(f.depth_m, f.K, grid & ~masks.any(0))
        t, n = _timed(lambda p=pts: _o3d_plane(p, popts), args.repeat)
        rows["o3d_plane"].append(t)
        rows["o3d_err"].append(_angle(n, up_true))
        lab, dep = f.segmentation, f.depth_m
        for v in labels:
            lab, dep = bleed(lab, dep, int(v), 10, 0.3)
        bled = np.stack([lab == v for v in labels])
        true_obj = np.stack([f.segmentation == v for v in labels])
        t, surf = _timed(lambda d=dep, fr=f, m=bled, p=info.plane: _ours(d, fr.K, m, p, reach), args.repeat)
        rows["ours_surf"].append(t)
        bg = sum(int((s.keep & ~o).sum()) for s, o in zip(surf, true_obj))
        rows["ours_bg"].append(bg / max(sum(s.num_kept for s in surf), 1))
        t, kept = _timed(lambda d=dep, fr=f, m=bled: _o3d_surfaces(d, fr.K, m, sopts.link_m), args.repeat)
        rows["o3d_surf"].append(t)
        # background share of Open3D's clusters: points more than 0.1 m behind the object's true surface
        far = 0
        for pts, o in zip(kept, true_obj):
            zmax = np.nanmax(np.where(o, f.depth_m, np.nan))
            far += int((pts[:, 2] > zmax + 0.1).sum())
        rows["o3d_bg"].append(far / max(sum(len(k) for k in kept), 1))
        _eroded(rows, f, true_obj, info.plane, reach, args.repeat)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(
        f"{args.frames} frames {args.width}x{args.height}, 3-5 objects, fastest of {args.repeat} runs, median over "
        f"frames; Open3D threads: default"
    )
    print(f"{'step':34s} {'ours ms':>8s} {'Open3D ms':>9s} {'ratio':>6s}   quality (ours / Open3D)")
    print(
        f"{'support plane (RANSAC)':34s} {1e3 * med['ours_plane']:8.1f} {1e3 * med['o3d_plane']:9.1f} "
        f"{med['o3d_plane'] / med['ours_plane']:6.2f}   up error {med['ours_err']:.2f} / {med['o3d_err']:.2f} deg "
        f"(max {np.nanmax(rows['ours_err']):.2f} / {np.nanmax(rows['o3d_err']):.2f})"
    )
    print(
        f"{'object surfaces (all masks)':34s} {1e3 * med['ours_surf']:8.1f} {1e3 * med['o3d_surf']:9.1f} "
        f"{med['o3d_surf'] / med['ours_surf']:6.2f}   background share {100 * med['ours_bg']:.1f} % / "
        f"{100 * med['o3d_bg']:.1f} %"
    )
    print(
        f"{'object surfaces (masks eroded 4 px)':34s} {1e3 * med['ours_ero']:8.1f} {1e3 * med['o3d_ero']:9.1f} "
        f"{med['o3d_ero'] / med['ours_ero']:6.2f}   object pixels recovered {100 * med['ours_rec']:.1f} % / "
        f"{100 * med['o3d_rec']:.1f} % (reach {reach.reach_px} px)"
    )
    return 0


def _ours(depth: np.ndarray, K: np.ndarray, masks: np.ndarray, plane, reach: ReachOptions) -> list:
    """The node's surfaces: selected in the masks, then reaching beyond them."""
    return reach_surfaces(depth, K, masks, object_surfaces(depth, K, masks, plane=plane), plane=plane, options=reach)


def _eroded(rows: dict, f, true_obj: np.ndarray, plane, reach: ReachOptions, repeat: int) -> None:
    """Time and recall of both surface selections on the true masks eroded by 4 px."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    eroded = np.stack([cv2.erode(o.astype(np.uint8), disc).astype(bool) for o in true_obj])
    has = np.isfinite(f.depth_m) & (f.depth_m > 0)
    total = max(int((true_obj & has).sum()), 1)
    t, surf = _timed(lambda: _ours(f.depth_m, f.K, eroded, plane, reach), repeat)
    rows["ours_ero"].append(t)
    rows["ours_rec"].append(sum(int((s.keep & o).sum()) for s, o in zip(surf, true_obj)) / total)
    t, kept = _timed(lambda: _o3d_surfaces(f.depth_m, f.K, eroded, SurfaceOptions().link_m), repeat)
    rows["o3d_ero"].append(t)
    rows["o3d_rec"].append(sum(len(k) for k in kept) / total)


if __name__ == "__main__":
    sys.exit(main())
