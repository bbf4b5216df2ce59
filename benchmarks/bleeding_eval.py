"""Accuracy of a back-end on held-out simulated frames with clean and with bleeding masks, with and without
gravity: the measurement behind issue 11's robust instance geometry (before/after comparisons).

Frames are rendered in memory from held-out seeds (9000+, never used in training) by the real simulator.
Variants of every frame:
- ``clean``: the simulator's masks;
- ``bleed_far``: every mask dilated by ``--bleed-px`` onto pixels of no other object, whose depth is set to
  the nearest object pixel's plus 0.3 m (a background 0.3 m behind, as in the unit tests);
- ``bleed_real``: the same dilation onto the real background (table, floor, walls), depth unchanged;
- ``eroded``: every mask eroded by ``--erode-px`` (the pixels go to the background label, depth unchanged): a
  segmenter that falls short of the silhouette, which ``--mask-reach-px`` (the node's ``mask_reach_px``) undoes.
Each with gravity from the simulator's TF (``up``) and without (``no-up``: ``frame.up`` None).
Printed per variant: instances estimated, the share of objects whose every size axis is within
[0.8, 1.25] of the truth, objects with an axis off by more than 2x, median centre error, median rotation
error (symmetry-aware) and NOCS mAP (IoU50, 10deg5cm). Objects less than ``--min-visibility`` visible are
ignored (as in benchmarks/train_eval.py).

    python benchmarks/bleeding_eval.py [--model prior_fit] [--scenes 6] [--frames 5] [--mask-reach-px 4]

Only the estimator interface is used, so the same script measures an older checkout (PYTHONPATH).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "test" / "helpers"))

from bleeding import bleed  # noqa: E402

from selfpose_ros.conventions import CATEGORIES  # noqa: E402
from selfpose_ros.data.frame import RGBDFrame  # noqa: E402
from selfpose_ros.data.instances import extract_instances  # noqa: E402
from selfpose_ros.eval.errors import error_symmetry, rotation_error_deg  # noqa: E402
from selfpose_ros.eval.io_jsonl import ObjectRecord  # noqa: E402
from selfpose_ros.eval.nocs_metrics import EvalConfig, evaluate  # noqa: E402
from selfpose_ros.inference.backends import make_estimator  # noqa: E402
from selfpose_ros.inference.estimator import SolverOptions  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402

CATS = ("bottle", "bowl", "can", "mug")
VARIANTS = ("clean", "bleed_far", "bleed_real", "eroded")


def frames(scenes: int, per_scene: int, seed: int, width: int, height: int):
    """Yield (scene index, SimFrame) of held-out scenes."""
    for k in range(scenes):
        cfg = SimConfig(
            width=width,
            height=height,
            num_frames=max(per_scene, 2) * 5,
            scene=SceneConfig(categories=CATS, min_objects=2, max_objects=4),
        )
        sim = SimScene(cfg, seed=seed + k)
        for i in np.linspace(0, cfg.num_frames - 1, per_scene).round().astype(int):
            yield k, sim.render(int(i))


def eroded(labels: np.ndarray, px: int) -> np.ndarray:
    """Every instance's pixels within ``px`` of its outside set to 0 (background)."""
    out = labels.copy()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    for value in np.unique(labels[labels > 0]):
        mask = (labels == value).astype(np.uint8)
        out[(mask > 0) & (cv2.erode(mask, disc, borderValue=1) == 0)] = 0
    return out


def variant_images(f, variant: str, px: int, erode_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and depth of one variant of a frame."""
    labels, depth = f.segmentation, f.depth_m
    if variant == "clean":
        return labels, depth
    if variant == "eroded":
        return eroded(labels, erode_px), depth
    for o in f.objects:
        if (labels == o.label).any():
            labels, depth = bleed(labels, depth, o.label, px, 0.3 if variant == "bleed_far" else None)
    return labels, depth


def score(preds: list[ObjectRecord], gts: list[ObjectRecord], min_vis: float) -> dict:
    """The summary numbers of one variant (see the module docstring)."""
    by_key = {(p.frame, p.category, p.instance): p for p in preds}
    ok = off2 = 0
    centre, rot = [], []
    used = [g for g in gts if g.visibility >= min_vis]
    for g in used:
        p = by_key.get((g.frame, g.category, g.instance))
        if p is None:
            continue
        ratio = np.asarray(p.size) / np.asarray(g.size)
        ok += bool(((ratio >= 0.8) & (ratio <= 1.25)).all())
        off2 += bool(((ratio > 2.0) | (ratio < 0.5)).any())
        centre.append(100 * float(np.linalg.norm(np.asarray(p.t) - np.asarray(g.t))))
        rot.append(float(rotation_error_deg(p.R, g.R, error_symmetry(g.category))))
    rep = evaluate(preds, gts, EvalConfig(min_visibility=min_vis))
    return {
        "objects": len(used),
        "size_ok": ok / max(len(used), 1),
        "off2x": off2,
        "centre_cm": float(np.median(centre)) if centre else float("nan"),
        "rot_deg": float(np.median(rot)) if rot else float("nan"),
        "IoU50": 100 * rep.ap["IoU50"]["mean"],
        "10deg5cm": 100 * rep.ap["10deg5cm"]["mean"],
    }


def main() -> int:
    """Run every variant and print one row each."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="prior_fit")
    ap.add_argument("--scenes", type=int, default=6)
    ap.add_argument("--frames", type=int, default=5, help="frames per scene")
    ap.add_argument("--seed", type=int, default=9000)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--bleed-px", type=int, default=10)
    ap.add_argument("--erode-px", type=int, default=4)
    ap.add_argument("--mask-reach-px", type=int, default=None, help="default: the node's")
    ap.add_argument("--min-visibility", type=float, default=0.3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--no-up", action="store_true", help="only the runs without gravity")
    args = ap.parse_args()
    reach = {} if args.mask_reach_px is None else {"mask_reach_px": args.mask_reach_px}
    options = SolverOptions(min_inliers=15, **reach)
    est = make_estimator(args.model, list(CATS), options)
    variants = args.variants.split(",")
    ups = (False,) if args.no_up else (True, False)
    preds = {(v, u): [] for v in variants for u in ups}
    gts: list[ObjectRecord] = []
    failures: dict = {}
    n_frames, t0 = 0, time.perf_counter()
    for k, f in frames(args.scenes, args.frames, args.seed, args.width, args.height):
        stamp = (k, int(f.index))
        n_frames += 1
        gts += [
            ObjectRecord(stamp, o.category, o.instance_id, 1.0, o.rotation, o.translation, o.size, o.visibility)
            for o in f.objects
        ]
        up_true = f.T_map_optical[2, :3].copy()  # map +Z in the optical frame
        for v in variants:
            labels, depth = variant_images(f, v, args.bleed_px, args.erode_px)
            instances, _ = extract_instances(labels, CATEGORIES, CATS, 50)
            for u in ups:
                frame = RGBDFrame(f.rgb, depth.astype(np.float32), labels, f.K, up=up_true if u else None)
                for r in est.estimate(frame, instances):
                    if r.estimate is None:
                        failures[(r.failure or "?")[:50]] = failures.get((r.failure or "?")[:50], 0) + 1
                        continue
                    e = r.estimate
                    preds[(v, u)].append(
                        ObjectRecord(stamp, e.category, e.instance, float(e.confidence), e.R, e.t, e.size)
                    )
    print(
        f"{args.model} (mask reach {options.mask_reach_px} px): {n_frames} frames x {len(preds)} variants in "
        f"{time.perf_counter() - t0:.0f} s; "
        f"objects with visibility >= {args.min_visibility}"
    )
    print(
        f"{'variant':18s} {'gravity':7s} {'est':>5s} {'objects':>7s} {'size in [.8,1.25]':>17s} {'>2x off':>7s} "
        f"{'centre cm':>9s} {'rot deg':>7s} {'IoU50':>6s} {'10d5cm':>6s}"
    )
    for (v, u), p in preds.items():
        s = score(p, gts, args.min_visibility)
        print(
            f"{v:18s} {'TF' if u else 'none':7s} {len(p):5d} {s['objects']:7d} {100 * s['size_ok']:16.1f}% "
            f"{s['off2x']:7d} {s['centre_cm']:9.2f} {s['rot_deg']:7.1f} {s['IoU50']:6.1f} {s['10deg5cm']:6.1f}"
        )
    if failures:
        print("failures:", dict(sorted(failures.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
