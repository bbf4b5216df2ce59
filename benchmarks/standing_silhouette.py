"""Benchmark: the mask-on-plane fallback (geometry/standing_silhouette.py) for objects that return no depth.

Times the whole fit per category on a rendered 320x240 mask, and its inner loop, the IoU of a projected convex
hull with the mask, against the peer it could have used: Pillow's ImageDraw.polygon rasterising the same hull
(same canvas, same IoU), measured in the same run.

    python benchmarks/standing_silhouette.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfpose_ros.geometry.standing_silhouette import SilhouetteIoU, fit_standing_silhouette, plane_hits  # noqa: E402
from selfpose_ros.shapes.priors import load_prior  # noqa: E402

K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
UP = np.array([0.0, -np.cos(np.radians(40.0)), -np.sin(np.radians(40.0))])
OFFSET = 0.45
SIZES = {"bottle": [0.07, 0.24, 0.07], "bowl": [0.16, 0.06, 0.16], "can": [0.07, 0.12, 0.07],
         "mug": [0.12, 0.09, 0.085]}


def render(category: str) -> tuple[np.ndarray, np.ndarray]:
    """(mask (240, 320), projected hull pixels (K, 2)) of the category's prior standing on the table."""
    v, f = load_prior(category)
    v = v - 0.5 * (v.min(0) + v.max(0))
    v = v / (v.max(0) - v.min(0)) * np.array(SIZES[category])
    foot = plane_hits(np.array([[170.0, 160.0]]), K, UP, OFFSET)[0]
    x = foot - UP * (foot @ UP)
    x /= np.linalg.norm(x)
    R = np.stack((x, UP, np.cross(x, UP)), axis=1)
    uv = (v @ R.T + foot + UP * 0.5 * SIZES[category][1]) @ K.T
    uv = uv[:, :2] / uv[:, 2:3]
    mask = np.zeros((240, 320), np.uint8)
    for tri in f:
        cv2.fillConvexPoly(mask, np.round(uv[tri] * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    return mask.astype(bool), uv


def pil_iou(sil: SilhouetteIoU, uv: np.ndarray) -> float:
    """The same IoU with Pillow rasterising the hull."""
    from PIL import Image, ImageDraw

    hull = cv2.convexHull(np.round(uv - [sil.x0, sil.y0]).astype(np.int32))[:, 0]
    img = Image.new("L", (sil.mask.shape[1], sil.mask.shape[0]), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in hull.tolist()], fill=1)
    filled = np.asarray(img, np.uint8) & sil.free
    inter = int(np.count_nonzero(filled & sil.mask))
    union = sil.count + int(np.count_nonzero(filled)) - inter
    return inter / union if union else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{'category':8s} {'mask px':>7s} {'fit ms':>7s} {'IoU':>5s} | {'IoU eval us: ours':>17s} {'Pillow':>7s} "
          "ratio")
    for cat in SIZES:
        mask, uv = render(cat)
        verts = load_prior(cat)[0]
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            fit = fit_standing_silhouette(mask, K, UP, OFFSET, verts)
        fit_ms = (time.perf_counter() - t0) / args.repeats * 1e3
        sil = SilhouetteIoU(mask, None)
        n = 50 * args.repeats
        t0 = time.perf_counter()
        for _ in range(n):
            ours = sil.iou(uv)
        t_ours = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        for _ in range(n):
            theirs = pil_iou(sil, uv)
        t_pil = (time.perf_counter() - t0) / n * 1e6
        assert abs(ours - theirs) < 0.05, (ours, theirs)  # the same quantity, up to rasterisation rules
        print(f"{cat:8s} {int(mask.sum()):7d} {fit_ms:7.1f} {fit.iou:5.2f} | {t_ours:17.1f} {t_pil:7.1f} "
              f"{t_pil / t_ours:5.2f}x")


if __name__ == "__main__":
    main()
