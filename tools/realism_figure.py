"""Render docs/images/realism_levels.png: one simulated frame at realism none, default and heavy, side by side.

Run: python tools/realism_figure.py [--seed 30] [--frame 20] [--out docs/images/realism_levels.png]

Rows are the levels; columns are the colour image, the depth image (turbo colour map over 0.3-2.5 m, black
= no reading) and the published segmentation (one colour per label, black = background) with the exact
instance outlines in white. The scene, objects and trajectory are the same in every row: realism changes
only how they look and how the sensors and the segmenter fail.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfpose_ros.sim.realism import REALISM_LEVELS, realism_preset  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimFrame, SimScene  # noqa: E402


def depth_tile(depth_m: np.ndarray) -> np.ndarray:
    """BGR turbo colour map of depth in metres (0.3-2.5 m), black where there is no reading."""
    d = np.nan_to_num(depth_m, nan=0.0)
    scaled = np.clip((d - 0.3) / 2.2 * 255, 0, 255).astype(np.uint8)
    tile = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    tile[d <= 0] = 0
    return tile


def segmentation_tile(frame: SimFrame) -> np.ndarray:
    """BGR label colours of the published segmentation with the exact instance outlines in white."""
    seg = frame.segmentation
    palette = np.random.default_rng(5).integers(60, 256, size=(8192, 3)).astype(np.uint8)
    tile = palette[seg % 8192]
    tile[seg == 0] = 0
    true = frame.segmentation_true if frame.segmentation_true is not None else seg
    edges = cv2.morphologyEx(true.astype(np.float32), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    tile[edges] = 255
    return tile


def main(argv: list[str] | None = None) -> int:
    """Render the figure and print where it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=30)
    parser.add_argument("--frame", type=int, default=20)
    parser.add_argument("--tile", type=int, default=240, help="tile width in pixels (4:3)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images" / "realism_levels.png"
    )
    args = parser.parse_args(argv)
    w, h = args.tile, args.tile * 3 // 4
    rows = []
    for level in REALISM_LEVELS:
        config = SimConfig(
            num_frames=args.frame + 2,
            realism=realism_preset(level),
            scene=SceneConfig(
                categories=("bottle", "bowl", "can", "mug", "laptop", "camera"), min_objects=5, max_objects=5
            ),
        )
        frame = SimScene(config, args.seed).render(args.frame)
        tiles = [frame.rgb[..., ::-1], depth_tile(frame.depth_m), segmentation_tile(frame)]
        small = [cv2.resize(t, (w, h), interpolation=cv2.INTER_AREA) for t in tiles]
        row = np.concatenate(small, axis=1)
        cv2.rectangle(row, (0, 0), (8 + 11 * len(level), 24), (0, 0, 0), -1)
        cv2.putText(row, level, (5, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(row)
    figure = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), figure, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.out}: {figure.shape[1]}x{figure.shape[0]}, {args.out.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
