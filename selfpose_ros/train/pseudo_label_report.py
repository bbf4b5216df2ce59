"""How good the cached pseudo-labels are, per category, against the simulator's ground truth (report only).

Rotation errors use the evaluator's symmetry rules; the mug is scored as asymmetric (its yaw counts) on crops
whose handle the ground truth shows, and as a solid of revolution elsewhere (the NOCS convention). The handle
flag of the pseudo-label is compared with the same test run with the ground-truth pose and size.
"""

from __future__ import annotations

import numpy as np

from selfpose_ros.eval.errors import error_symmetry, rotation_error_deg
from selfpose_ros.shapes.handle import HANDLE_CATEGORIES, handle_visible

HEADER = ("category", "crops", "labelled", "rot med", "<5°", "<10°", "yaw<10° (handle seen)", "t med cm",
          "size ok", "handle agree")


def _gt_handle(ds, idx: np.ndarray, gt: dict) -> np.ndarray:
    out = np.zeros(len(idx), bool)
    for k, i in enumerate(idx):
        _, depth, mask = ds.decode(int(i))
        K = ds.z["K"][ds.row(int(i))]
        out[k] = handle_visible(gt["R"][i], gt["t"][i], gt["size"][i], depth, mask, K)
    return out


def pseudo_label_rows(ds, min_quality: float = 0.0) -> list[tuple]:
    """One row per category (see HEADER) for a CropCacheDataset with ground truth."""
    labels = {k: v.numpy() for k, v in ds.pseudo_labels().items()}
    gt = ds.ground_truth()
    cats = np.array([ds.category_name(i) for i in range(len(ds))])
    rows = []
    for cat in ds.train_categories:
        idx = np.flatnonzero(cats == cat)
        ok = idx[labels["valid"][idx] & (labels["quality"][idx] >= min_quality)]
        if len(ok) == 0:
            rows.append((cat, len(idx), 0) + ("-",) * (len(HEADER) - 3))
            continue
        sym = error_symmetry(cat)
        handle_gt = _gt_handle(ds, ok, gt) if cat in HANDLE_CATEGORIES else np.ones(len(ok), bool)
        rot = np.array([rotation_error_deg(labels["R"][i], gt["R"][i], sym if h else "continuous_y")
                        for i, h in zip(ok, handle_gt)])
        seen = ok[handle_gt]
        yaw = np.array([rotation_error_deg(labels["R"][i], gt["R"][i], sym) for i in seen])
        terr = 100 * np.linalg.norm(labels["t"][ok] - gt["t"][ok], axis=1)
        ext_ok = labels["extents_valid"][ok]
        ratio = labels["extents"][ok] / gt["size"][ok]
        size_ok = np.all((ratio >= 0.8) & (ratio <= 1.25), axis=1) & ext_ok
        agree = float(np.mean(labels["handle_visible"][ok] == handle_gt)) if cat in HANDLE_CATEGORIES else None
        rows.append((cat, len(idx), len(ok), f"{np.median(rot):.1f}°", f"{100 * np.mean(rot < 5):.1f} %",
                     f"{100 * np.mean(rot < 10):.1f} %",
                     "n/a (symmetric)" if sym == "continuous_y" else
                     f"{100 * np.mean(yaw < 10):.1f} % of {len(seen)}" if len(yaw) else "-",
                     f"{np.median(terr):.2f}", f"{100 * np.mean(size_ok):.1f} %",
                     f"{100 * agree:.1f} %" if agree is not None else "-"))
    return rows


def format_rows(rows: list[tuple]) -> str:
    """A Markdown table of ``pseudo_label_rows``."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)
