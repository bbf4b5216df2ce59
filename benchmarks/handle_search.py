"""Benchmark: the mug-handle search (``geometry.handle_azimuth``) against the peer it could have used for its
body-axis fit, SciPy's robust ``least_squares``, on the mugs of held-out simulated bags.

For every mug of the first ``--frames`` frames of each bag whose ground truth shows the handle
(``eval.handle_gt``), the instance's points with their silhouette (``FrameGeometry.handle_points``) are searched
from the ground-truth pose with its body axis moved 15 mm sideways (a first guess from a fit at a wrong yaw):
- ours: ``find_protrusion`` (Gauss-Newton, one radius per height band, a shrinking gate);
- peer: ``scipy.optimize.least_squares`` (centre and one radius, ``soft_l1`` loss at 3 mm, the same start),
  then the same vote (``find_protrusion(axis=...)``).
Printed: median time of the axis fit and of the whole search, the share of handles found and, of those, the
share within 10 deg of the truth. The ratio column is peer time / our time (> 1: ours is faster).

    python benchmarks/handle_search.py [--bags data/sim/heldout_default] [--frames 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _heldout import list_bags  # noqa: E402

from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.data.bag_reader import BagTopics, read_rgbd_frames  # noqa: E402
from selfpose_ros.data.instances import extract_instances  # noqa: E402
from selfpose_ros.data.stamps import ns_to_sec_nanosec  # noqa: E402
from selfpose_ros.eval.handle_gt import annotate_handle_visibility  # noqa: E402
from selfpose_ros.eval.io_bag import load_gt_from_bag  # noqa: E402
from selfpose_ros.geometry.body_axis import RADIUS_BANDS, BodyAxis, fit_body_axis, horizontal_basis  # noqa: E402
from selfpose_ros.geometry.handle_azimuth import find_protrusion  # noqa: E402
from selfpose_ros.inference.instance_geometry import frame_geometry  # noqa: E402


def scipy_axis(xy: np.ndarray, c0: np.ndarray, r0: float, bottom: float, top: float) -> BodyAxis:
    """The peer's body axis: centre and one radius by ``least_squares`` with a robust loss."""
    def residual(p: np.ndarray) -> np.ndarray:
        return np.linalg.norm(xy - p[:2], axis=1) - p[2]
    sol = least_squares(residual, np.r_[c0, r0], loss="soft_l1", f_scale=0.003)
    res = residual(sol.x)
    return BodyAxis(sol.x[:2], np.full(RADIUS_BANDS, sol.x[2]), np.linspace(bottom, top, RADIUS_BANDS + 1),
                    float(np.sqrt(np.mean(res ** 2))), len(xy))


def _cases(bags: list[Path], frames: int):
    """(points, up, axis0, radius, bottom, top, true azimuth) of every mug whose ground truth shows its handle."""
    for bag in bags:
        gts = annotate_handle_visibility(bag, [g for g in load_gt_from_bag(bag) if g.category == "mug"])
        by_frame: dict = {}
        for g in gts:
            if g.handle_visible and (g.visibility is None or g.visibility >= 0.1):
                by_frame.setdefault(tuple(g.frame), []).append(g)
        for n, (frame, cats) in enumerate(read_rgbd_frames(bag, BagTopics(), "map")):
            if n >= frames:
                break
            todo = by_frame.get(tuple(ns_to_sec_nanosec(frame.stamp_ns)), [])
            if not todo:
                continue
            instances, _ = extract_instances(frame.labels, cats, CATEGORIES, 50)
            geo = frame_geometry(frame, instances)
            for g in todo:
                k = next((i for i, inst in enumerate(instances) if inst.category == "mug"
                          and inst.instance == g.instance), None)
                if k is None:
                    continue
                up, (sx, sy, sz) = g.R[:, 1], g.size
                e1, e2 = horizontal_basis(up)
                axis = g.t + g.R[:, 0] * (0.5 * sz - 0.5 * sx) + 0.015 * g.R[:, 2]
                base = float(g.t @ up)
                yield (geo.handle_points(frame, k), up, axis, 0.5 * sz, base - 0.5 * sy, base + 0.5 * sy,
                       float(np.arctan2(g.R[:, 0] @ e2, g.R[:, 0] @ e1)))


def main() -> int:
    """Run both searches on every case and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bags", type=Path, default=REPO / "data" / "sim" / "heldout_default")
    ap.add_argument("--frames", type=int, default=10, help="frames per bag")
    args = ap.parse_args()
    rows = {"ours": ([], [], []), "scipy least_squares": ([], [], [])}
    cases = list(_cases(list_bags(args.bags), args.frames))
    for pts, up, axis, r, bottom, top, truth in cases:
        e1, e2 = horizontal_basis(up)
        xy, h = np.stack((pts @ e1, pts @ e2), 1), pts @ up
        c0 = np.array([axis @ e1, axis @ e2])
        for name in rows:
            t0 = time.perf_counter()
            body = fit_body_axis(xy, h, c0, r, bottom, top) if name == "ours" else scipy_axis(xy, c0, r, bottom, top)
            t1 = time.perf_counter()
            found = find_protrusion(pts, up, axis, r, bottom, top, axis=body)
            t2 = time.perf_counter()
            fit_ms, total_ms, ok = rows[name]
            fit_ms.append(1e3 * (t1 - t0))
            total_ms.append(1e3 * (t2 - t0))
            ok.append(abs(np.degrees(np.angle(np.exp(1j * (found.azimuth - truth))))) < 10 if found.found else None)
    print(f"{len(cases)} mugs whose handle shows, {args.bags}, first {args.frames} frames per bag")
    print(f"{'body axis fit':22s} {'fit ms':>7s} {'search ms':>9s} {'ratio':>6s} {'found':>6s} {'within 10 deg':>14s}")
    ours_ms = statistics.median(rows["ours"][1]) if cases else float("nan")
    for name, (fit_ms, total_ms, ok) in rows.items():
        got = [o for o in ok if o is not None]
        med = statistics.median(total_ms) if total_ms else float("nan")
        found, right = 100 * len(got) / max(1, len(ok)), 100 * np.mean(got) if got else 0.0
        print(f"{name:22s} {statistics.median(fit_ms) if fit_ms else float('nan'):7.2f} {med:9.2f} "
              f"{med / ours_ms:6.2f} {found:5.1f}% {right:13.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
