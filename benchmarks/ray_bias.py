"""Benchmark: the ego-motion debiasing fit (geometry/ray_bias.py), run per object at every view by the pipeline.

Fits one object's along-ray offset to its 60 newest views (the stage's ``max_views``) on a 90-degree orbit, with
our closed-form Huber IRLS, against the peer it could have used: scipy.optimize.least_squares with a Huber loss
on the same residuals (the offset and the object's centre as unknowns), measured in the same run. Both answers are
printed, so the speed is compared at equal accuracy.

    python benchmarks/ray_bias.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfpose_ros.geometry.ray_bias import fit_ray_bias  # noqa: E402

DELTA = 0.02


def views(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R world <- camera, camera positions, noisy biased estimates) of one object from ``n`` orbit views."""
    rng = np.random.default_rng(seed)
    R, p, t = [], [], []
    for a in np.radians(np.linspace(0.0, 90.0, n)):
        eye = np.array([0.8 * np.cos(a), 0.8 * np.sin(a), 0.5])
        z = -eye / np.linalg.norm(eye)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        Rk = np.stack([x, np.cross(z, x), z], axis=1)
        tk = Rk.T @ -eye
        R.append(Rk)
        p.append(eye)
        t.append(tk + DELTA * tk / np.linalg.norm(tk) + rng.normal(0.0, 0.004, 3))
    return np.array(R), np.array(p), np.array(t)


def scipy_fit(R: np.ndarray, p: np.ndarray, t: np.ndarray) -> float:
    """The same model through scipy: unknowns (delta, centre), residual w - centre - delta * ray, Huber loss."""
    w = np.einsum("nij,nj->ni", R, t) + p

    def residuals(x: np.ndarray) -> np.ndarray:
        ray = x[1:] - p
        ray /= np.linalg.norm(ray, axis=1, keepdims=True)
        return np.concatenate([(w - x[1:] - x[0] * ray).ravel(), [x[0] / 0.02 * 0.004]])

    return float(least_squares(residuals, np.r_[0.0, w.mean(0)], loss="huber", f_scale=0.006).x[0])


def timed(fn, repeats: int) -> tuple[float, object]:
    """(median seconds, last result) of ``repeats`` calls."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    R, p, t = views(60)
    ours_s, ours = timed(lambda: fit_ray_bias(R, p, t, np.zeros(len(t)), 0.02), args.repeats)
    peer_s, peer = timed(lambda: scipy_fit(R, p, t), args.repeats)
    print(f"one object, 60 views, true offset {1000 * DELTA:.1f} mm")
    print(f"  fit_ray_bias (numpy IRLS):          {1e3 * ours_s:7.3f} ms   offset {1000 * ours.delta:6.2f} mm")
    print(f"  scipy least_squares (Huber loss):   {1e3 * peer_s:7.3f} ms   offset {1000 * peer:6.2f} mm")
    print(f"ratio scipy / ours: {peer_s / ours_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
