"""PNG plots of an evaluation: AP-vs-threshold curves and error histograms (matplotlib, Agg canvas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from selfpose_ros.eval.nocs_metrics import EvaluationReport

_CURVES = {
    "iou": ("3D IoU threshold", "ap_vs_iou.png"),
    "rotation": ("rotation error threshold (deg)", "ap_vs_rotation.png"),
    "translation": ("translation error threshold (cm)", "ap_vs_translation.png"),
}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_ap_curves(report: EvaluationReport, out_dir: Path) -> list[Path]:
    """Write one AP-vs-threshold plot per curve (per class and mean); return the written paths."""
    written = []
    for name, (xlabel, filename) in _CURVES.items():
        thresholds, per_class = report.curves[name]
        fig = Figure(figsize=(5, 4))
        ax = fig.add_subplot()
        for category, ap in per_class.items():
            ax.plot(thresholds, 100 * ap, label=category)
        if per_class:
            mean = np.nanmean(np.stack(list(per_class.values())), axis=0)
            ax.plot(thresholds, 100 * mean, "k--", linewidth=2, label="mean")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("AP (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        written.append(_save(fig, out_dir / filename))
    return written


def plot_error_histograms(report: EvaluationReport, out_dir: Path) -> list[Path]:
    """Write histograms of rotation error, translation error and IoU over matched pairs."""
    data = {
        "rotation error (deg)": ([p.rotation_deg for p in report.pairs], np.linspace(0, 60, 31),
                                 "hist_rotation.png"),
        "translation error (cm)": ([p.translation_cm for p in report.pairs], np.linspace(0, 10, 21),
                                   "hist_translation.png"),
        "3D IoU": ([p.iou for p in report.pairs], np.linspace(0, 1, 21), "hist_iou.png"),
    }
    written = []
    for xlabel, (values, bins, filename) in data.items():
        fig = Figure(figsize=(5, 4))
        ax = fig.add_subplot()
        clipped = np.clip(np.asarray(values, dtype=np.float64), bins[0], bins[-1])
        ax.hist(clipped, bins=bins, color="tab:blue", edgecolor="white")
        ax.set_xlabel(xlabel + (" (last bin includes larger)" if "IoU" not in xlabel else ""))
        ax.set_ylabel("matched pairs")
        ax.set_title(f"{len(values)} pairs matched at IoU >= {report.config.pose_iou_threshold}")
        written.append(_save(fig, out_dir / filename))
    return written


def write_plots(report: EvaluationReport, out_dir: str | Path) -> list[Path]:
    """Create ``out_dir`` and write all plots; return the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return plot_ap_curves(report, out) + plot_error_histograms(report, out)
