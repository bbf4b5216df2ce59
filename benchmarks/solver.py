"""Benchmark: our RANSAC-Umeyama vs Open3D and OpenCV on the same 3D-3D correspondences.

Run: ``.venv/bin/python benchmarks/solver.py [--seeds 10] [--outliers 0.5]``.
Every solver sees the same inputs: 2,000 correspondences from a box of diagonal 1 (the canonical frame)
to a random similarity (scale 0.2-0.5 m, random rotation, 0.7 m in front of the camera), 5 mm Gaussian
noise, a fraction of the targets replaced by uniform outliers in the object's bounding box.
Reported per solver: median wall time, mean rotation / translation / relative scale error, the share
of seeds recovered within 1 deg and 1 cm, and the time ratio to ours. Peers:
- Open3D ``registration_ransac_based_on_correspondence`` with ``TransformationEstimationPointToPoint(True)``
  (ransac_n 3, the same inlier threshold and confidence, max 100,000 iterations).
- OpenCV ``estimateAffine3D`` RANSAC (a general 12-dof affine; its similarity part is taken by polar
  decomposition), and ``estimateAffine3D(src, dst, force_rotation=True)`` (Umeyama, no RANSAC: shown to
  make the point that a non-robust fit fails with outliers).
Torch runs with one intra-op thread by default (``--torch-threads``); Open3D and OpenCV keep their own
thread pools (printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import cv2
import numpy as np
import open3d as o3d
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from selfpose_ros.geometry.ransac import ransac_umeyama  # noqa: E402
from selfpose_ros.geometry.rotations import project_to_rotation_np, relative_rotation_angle_np  # noqa: E402

THRESHOLD_M = 0.015
CONFIDENCE = 0.999
Solver = Callable[[np.ndarray, np.ndarray, int], tuple[float, np.ndarray, np.ndarray] | None]


def make_problem(seed: int, n: int, outlier_ratio: float, noise_m: float) -> tuple:
    """Return (src, dst, s, R, t) float64 arrays for one seeded problem."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    x, y, z, w = q
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    s = rng.uniform(0.2, 0.5)
    t = np.array([0.0, 0.0, 0.7]) + rng.normal(scale=0.1, size=3)
    src = (rng.uniform(-0.5, 0.5, size=(n, 3))) / np.sqrt(3.0)
    dst = s * src @ R.T + t + rng.normal(scale=noise_m, size=(n, 3))
    k = int(round(outlier_ratio * n))
    lo, hi = dst.min(0) - 0.05, dst.max(0) + 0.05
    dst[:k] = rng.uniform(lo, hi, size=(k, 3))
    return src, dst, s, R, t


def ours(dtype: torch.dtype, method: str) -> Solver:
    """Return a solver closure running our RANSAC-Umeyama on torch tensors of ``dtype``."""
    def solve(src, dst, seed):
        fit = ransac_umeyama(torch.from_numpy(src).to(dtype), torch.from_numpy(dst).to(dtype), THRESHOLD_M,
                             confidence=CONFIDENCE, method=method, seed=seed)
        return (fit.scale, fit.rotation, fit.translation) if fit.success else None
    return solve


def open3d_ransac(src, dst, seed, refit: bool = False):
    """Open3D RANSAC on the given correspondences, point-to-point estimation with scaling.

    With ``refit``, the similarity is re-estimated (Open3D, with scaling) on the given correspondences that
    are inliers of Open3D's answer: Open3D returns its best minimal-sample hypothesis without such a
    least-squares refit, and the correspondence set it reports comes from nearest-neighbour search, not
    from the given pairs, so a careful user would add this step.
    """
    o3d.utility.random.seed(seed)
    reg = o3d.pipelines.registration
    ps = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(src))
    pd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(dst))
    idx = np.arange(len(src), dtype=np.int32)
    corr = o3d.utility.Vector2iVector(np.stack([idx, idx], axis=1))
    res = reg.registration_ransac_based_on_correspondence(
        ps, pd, corr, THRESHOLD_M, reg.TransformationEstimationPointToPoint(True), 3, [],
        reg.RANSACConvergenceCriteria(100000, CONFIDENCE))
    T = np.asarray(res.transformation)
    if refit:
        resid = np.linalg.norm(src @ T[:3, :3].T + T[:3, 3] - dst, axis=1)
        inl = idx[resid < THRESHOLD_M]
        if len(inl) >= 3:
            inlier_corr = o3d.utility.Vector2iVector(np.stack([inl, inl], axis=1))
            T = reg.TransformationEstimationPointToPoint(True).compute_transformation(ps, pd, inlier_corr)
    return split_affine(np.asarray(T)[:3])


def opencv_affine_ransac(src, dst, seed):
    """OpenCV estimateAffine3D RANSAC (12-dof affine), similarity part by polar decomposition."""
    cv2.setRNGSeed(seed)
    ok, M, _ = cv2.estimateAffine3D(src, dst, ransacThreshold=THRESHOLD_M, confidence=0.99)
    return split_affine(M) if ok and M is not None else None


def opencv_umeyama_no_ransac(src, dst, seed):
    """OpenCV estimateAffine3D(force_rotation=True): Umeyama similarity, no outlier rejection."""
    M, scale = cv2.estimateAffine3D(src, dst, force_rotation=True)
    if M is None:
        return None
    R = M[:, :3] / scale if abs(np.linalg.det(M[:, :3]) - 1) < 1e-6 else project_to_rotation_np(M[:, :3])
    return float(scale), project_to_rotation_np(R), M[:, 3]


def split_affine(M: np.ndarray):
    """Split a 3x4 [A | t] into (s, R, t) with R the nearest rotation and s the mean singular value."""
    A = M[:, :3]
    if not np.isfinite(A).all() or abs(np.linalg.det(A)) < 1e-12:
        return None
    s = float(np.linalg.svd(A, compute_uv=False).mean())
    return s, project_to_rotation_np(A), M[:, 3]


def run_all(solvers: list[tuple[str, Solver]], problems: list, repeats: int) -> list[dict]:
    """Time every solver on every problem (median of ``repeats``) and measure its errors.

    Solvers are interleaved within each repeat, so a change in machine load hits all of them alike.
    """
    times: dict[str, list[float]] = {name: [] for name, _ in solvers}
    outs: dict[str, list] = {name: [] for name, _ in solvers}
    for seed, (src, dst, *_) in enumerate(problems):
        per: dict[str, list[float]] = {name: [] for name, _ in solvers}
        last = {name: fn(src, dst, seed) for name, fn in solvers}  # warm-up
        for _ in range(repeats):
            for name, fn in solvers:
                t0 = time.perf_counter()
                last[name] = fn(src, dst, seed)
                per[name].append(time.perf_counter() - t0)
        for name, _ in solvers:
            times[name].append(statistics.median(per[name]))
            outs[name].append(last[name])
    return [_summary(name, times[name], outs[name], problems) for name, _ in solvers]


def _summary(name: str, times: list[float], outs: list, problems: list) -> dict:
    rot, trans, scale, ok = [], [], [], 0
    for out, (_, _, s, R, t) in zip(outs, problems, strict=True):
        if out is None:
            rot.append(180.0)
            trans.append(1.0)
            scale.append(1.0)
            continue
        s_e, R_e, t_e = out
        rot.append(float(np.degrees(relative_rotation_angle_np(R_e, R))))
        trans.append(float(np.linalg.norm(t_e - t)))
        scale.append(abs(s_e / s - 1))
        ok += rot[-1] < 1.0 and trans[-1] < 0.01
    return {"name": name, "ms": 1e3 * statistics.median(times), "rot": np.mean(rot), "rot_max": np.max(rot),
            "trans_mm": 1e3 * np.mean(trans), "scale": 100 * np.mean(scale), "ok": ok, "n": len(problems)}


def main() -> int:
    """Run the benchmark and print the comparison table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--outliers", type=float, default=0.5)
    ap.add_argument("--noise", type=float, default=0.005, help="Gaussian noise sigma, metres")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch intra-op threads (1: these tensors are too small to gain from more, and on a "
                         "loaded machine OpenMP spinning makes more threads far slower)")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)
    problems = [make_problem(seed, args.points, args.outliers, args.noise) for seed in range(args.seeds)]
    print(f"{args.points} correspondences, {args.outliers:.0%} outliers, {1e3 * args.noise:.1f} mm noise, "
          f"{args.seeds} seeds, threshold {1e3 * THRESHOLD_M:.0f} mm; torch threads {torch.get_num_threads()}, "
          f"OpenCV {cv2.__version__} threads {cv2.getNumThreads()}, Open3D {o3d.__version__}")
    solvers: list[tuple[str, Solver]] = [
        ("ours float32 svd", ours(torch.float32, "svd")),
        ("ours float32 horn", ours(torch.float32, "horn")),
        ("ours float64 svd", ours(torch.float64, "svd")),
        ("open3d ransac (with_scaling)", open3d_ransac),
        ("open3d ransac + refit on inliers", lambda a, b, seed: open3d_ransac(a, b, seed, refit=True)),
        ("opencv estimateAffine3D ransac", opencv_affine_ransac),
        ("opencv estimateAffine3D force_rotation", opencv_umeyama_no_ransac),
    ]
    rows = run_all(solvers, problems, args.repeats)
    ref = rows[0]["ms"]
    print(f"{'solver':40s} {'ms':>8s} {'x ours':>8s} {'rot deg':>8s} {'max':>7s} {'t mm':>7s} "
          f"{'scale %':>8s} {'<1deg,1cm':>10s}")
    for r in rows:
        print(f"{r['name']:40s} {r['ms']:8.2f} {r['ms'] / ref:8.1f} {r['rot']:8.3f} {r['rot_max']:7.2f} "
              f"{r['trans_mm']:7.2f} {r['scale']:8.2f} {r['ok']:>5d}/{r['n']}")
    o3d_row = next(r for r in rows if r["name"].startswith("open3d"))
    print(f"speed-up of ours (float32 svd) over Open3D: {o3d_row['ms'] / ref:.1f}x; "
          f"mean rotation error ours {rows[0]['rot']:.3f} deg vs Open3D {o3d_row['rot']:.3f} deg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
