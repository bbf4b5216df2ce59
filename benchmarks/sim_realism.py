"""Cost of the simulator's realism levels at 640x480 with 5 objects: frame rate per level, cost of each effect,
and the OpenCV image operations against the scipy.ndimage (and Pillow) peers they could have used.

Run: python benchmarks/sim_realism.py [--frames 20] [--width 640 --height 480] [--repeat 15]

Frame rates are wall-clock medians over consecutive frames (``selfpose sim``'s work minus bag writing).
Per-effect costs are the minimum over ``--repeat`` runs of each effect alone on the same rendered frame
(the minimum is the least load-sensitive statistic on a shared machine). Peers run on the same inputs in
the same process, and each peer's output is checked against ours before its time is reported.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfpose_ros.sim import depth_artefacts as da  # noqa: E402
from selfpose_ros.sim.image_pipeline import ColourCamera, blur_kernel  # noqa: E402
from selfpose_ros.sim.realism import REALISM_LEVELS, DepthArtefacts, ImagePipeline, realism_preset  # noqa: E402
from selfpose_ros.sim.scene import SceneConfig  # noqa: E402
from selfpose_ros.sim.segmenter import degrade_segmentation  # noqa: E402
from selfpose_ros.sim.simulator import SimConfig, SimScene  # noqa: E402


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """Minimum wall time of ``fn`` over ``repeat`` runs, milliseconds (one warm-up run first)."""
    return best_wall_cpu_ms(fn, repeat)[0]


def best_wall_cpu_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Minimum wall time and minimum process CPU time (all threads) of ``fn`` over ``repeat`` runs, ms."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return 1000.0 * min(walls), 1000.0 * min(cpus)


def frame_rates(width: int, height: int, frames: int, seed: int) -> dict[str, dict[str, float]]:
    """Per level: median frame wall time, process CPU time per frame and median per-stage times (ms)."""
    out = {}
    for level in REALISM_LEVELS:
        config = SimConfig(
            width=width,
            height=height,
            num_frames=frames + 1,
            realism=realism_preset(level),
            scene=SceneConfig(min_objects=5, max_objects=5),
        )
        sim = SimScene(config, seed)
        sim.render(0)  # builds Embree's acceleration structure
        walls, stages = [], {}
        cpu0 = time.process_time()
        for i in range(1, frames + 1):
            t = time.perf_counter()
            sim.render(i)
            walls.append(time.perf_counter() - t)
            for k, v in sim.timings.items():
                stages.setdefault(k, []).append(v)
        result = {k: 1000 * float(np.median(v)) for k, v in stages.items()}
        result["frame"] = 1000 * float(np.median(walls))
        result["cpu"] = 1000 * (time.process_time() - cpu0) / frames
        out[level] = result
    return out


def sequence_rates(width: int, height: int, frames: int, seed: int, level: str = "default") -> dict[str, float]:
    """Frames/s of ``SimScene.frames()`` over a whole sequence (``selfpose sim``'s loop without the bag writer),
    casting in this process and casting ahead in the worker process; each includes its start (the worker's
    imports overlap the first frames). The in-process run goes first, the worker run second, then again."""
    config = SimConfig(width=width, height=height, num_frames=frames, realism=realism_preset(level),
                       scene=SceneConfig(min_objects=5, max_objects=5))
    sim = SimScene(config, seed)
    sim.render(0)  # builds Embree's acceleration structure
    out: dict[str, list[float]] = {"in_process": [], "ahead": []}
    ahead_frames = []
    for _ in range(2):
        for key, ahead in (("in_process", False), ("ahead", True)):
            t = time.perf_counter()
            for _frame in sim.frames(ahead=ahead):
                pass
            out[key].append(frames / (time.perf_counter() - t))
            if ahead:
                ahead_frames.append(sim.frames_cast_ahead)
    rates = {k: float(np.median(v)) for k, v in out.items()}
    rates["ahead_frames"] = float(min(ahead_frames))
    return rates


def effect_costs(sim: SimScene, index: int, repeat: int) -> list[tuple[str, float, float]]:
    """Cost (ms) of each realism effect alone (the simulator's own code, one effect switched on at a time)."""
    r = sim.config.realism
    d, im = r.depth, r.image
    hits = sim.raycaster.cast(sim.T_map_optical[index])
    frame = sim.render(index)
    shape = frame.segmentation.shape
    z, fx = frame.depth_true_m, sim.camera.fx
    rng = np.random.default_rng
    layers = sim.shader.shade_layers(hits, cues=True)
    cues = da.SurfaceCues(
        np.clip(1 - layers.albedo_luminance.reshape(shape) / 0.25, 0, 1),
        layers.specular.reshape(shape),
        layers.transparent.reshape(shape),
    )
    measured = sim.config.sensor.apply(z, layers.cos_incidence.reshape(shape), fx, rng(0))
    none, calib = da.DepthCalibration(), da.DepthCalibration(1.004, 0.002, (2, -1))

    def before(**kw: float) -> Callable[[], object]:
        return lambda: da.before_sensor(z, DepthArtefacts(**kw), calib if "scale_error" in kw else none, rng(1))

    def after(**kw: float) -> Callable[[], object]:
        c = calib if "registration_px" in kw else none
        return lambda: da.after_sensor(measured, z, cues, DepthArtefacts(**kw), c, fx, rng(1))

    def camera(**kw: object) -> Callable[[], object]:
        cam = ColourCamera(ImagePipeline(**kw), shape, rng(2))
        return lambda: cam.apply(frame.rgb, (4.0, 1.5), rng(3))

    rows = [
        ("shading: clean (Lambert, one light)", lambda: sim.shader.shade(hits)),
        ("shading: + lights, highlights, clear plastic, cues", lambda: sim.shader.shade_layers(hits, cues=True)),
        ("depth: scale error and bias", before(scale_error=d.scale_error, bias=d.bias)),
        ("depth: low-frequency correlated noise", before(correlated_noise=d.correlated_noise)),
        ("depth: flying pixels", before(flying_pixels=d.flying_pixels)),
        ("depth: projector shadow", after(shadow_baseline=d.shadow_baseline)),
        ("depth: edge-band dropout", after(edge_band=d.edge_band, edge_band_dropout=d.edge_band_dropout)),
        (
            "depth: dark/specular/clear holes",
            after(dark_holes=d.dark_holes, specular_holes=d.specular_holes, transparent_holes=d.transparent_holes),
        ),
        ("depth: registration shift", after(registration_px=d.registration_px)),
        (
            "segmenter: all effects, all instances",
            lambda: degrade_segmentation(frame.segmentation_true, z, sim.severities, r.segmenter, rng(2)),
        ),
        (
            "image: exposure + white balance (LUT)",
            camera(exposure_stops=im.exposure_stops, white_balance=im.white_balance),
        ),
        ("image: motion blur (4.3 px)", camera(exposure_time_s=im.exposure_time_s)),
        ("image: vignetting", camera(vignetting=im.vignetting)),
        ("image: shot and read noise", camera(read_noise=im.read_noise, shot_noise=im.shot_noise)),
        ("image: JPEG encode + decode", camera(jpeg_quality=im.jpeg_quality)),
        ("image: whole colour camera", camera(**{f: getattr(im, f) for f in im.__dataclass_fields__})),
    ]
    return [(name, *best_wall_cpu_ms(fn, repeat)) for name, fn in rows]


def peers(shape: tuple[int, int], repeat: int) -> list[tuple[str, float, float]]:
    """(operation, OpenCV ms, peer ms) on the same inputs; raises when the outputs disagree."""
    rng = np.random.default_rng(0)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h / 2) ** 2 / (h / 5) ** 2 + (xx - w / 2) ** 2 / (w / 6) ** 2 < 1).astype(np.uint8)
    rgb = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    depth = rng.uniform(0.5, 3.0, (h, w)).astype(np.float32)
    out = []

    def check(a: np.ndarray, b: np.ndarray, tol: float, what: str) -> None:
        err = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        if err > tol:
            raise RuntimeError(f"{what}: OpenCV and peer differ by {err}")

    check(
        cv2.distanceTransform(1 - mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE),
        ndi.distance_transform_edt(1 - mask),
        0.1,
        "distance transform",
    )
    out.append(
        (
            "distance transform (bleed/erode)",
            best_ms(lambda: cv2.distanceTransform(1 - mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE), repeat),
            best_ms(lambda: ndi.distance_transform_edt(1 - mask), max(3, repeat // 3)),
        )
    )
    k3 = np.ones((3, 3), np.uint8)
    check(cv2.dilate(depth, k3), ndi.grey_dilation(depth, size=(3, 3)), 1e-6, "3x3 max")
    out.append(
        (
            "3x3 max filter (discontinuities)",
            best_ms(lambda: cv2.dilate(depth, k3), repeat),
            best_ms(lambda: ndi.grey_dilation(depth, size=(3, 3)), repeat),
        )
    )
    edges = (mask ^ cv2.erode(mask, k3)).astype(bool)
    k5 = np.ones((5, 5), np.uint8)
    check(
        cv2.dilate(edges.view(np.uint8), k5).view(bool),
        ndi.binary_dilation(edges, np.ones((5, 5), bool)),
        0,
        "binary dilation",
    )
    out.append(
        (
            "5x5 binary dilation (edge band)",
            best_ms(lambda: cv2.dilate(edges.view(np.uint8), k5), repeat),
            best_ms(lambda: ndi.binary_dilation(edges, np.ones((5, 5), bool)), repeat),
        )
    )
    kernel = blur_kernel(6.0, 2.0)
    check(
        cv2.filter2D(rgb, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT_101),
        ndi.correlate(rgb.astype(np.float32), kernel[..., None], mode="mirror"),
        1e-2,
        "motion blur",
    )
    out.append(
        (
            "motion blur 7x7 kernel, RGB",
            best_ms(lambda: cv2.filter2D(rgb, -1, kernel), repeat),
            best_ms(lambda: ndi.correlate(rgb, kernel[..., None], mode="mirror"), max(3, repeat // 3)),
        )
    )
    white = rng.standard_normal((h // 2, w // 2)).astype(np.float32)
    g = cv2.getGaussianKernel(13, 2.0).ravel()
    check(
        cv2.sepFilter2D(white, cv2.CV_32F, g, g, borderType=cv2.BORDER_REFLECT_101),
        ndi.correlate1d(ndi.correlate1d(white, g, axis=0, mode="mirror"), g, axis=1, mode="mirror"),
        1e-4,
        "gaussian",
    )
    out.append(
        (
            "Gaussian blur of the noise field",
            best_ms(lambda: cv2.sepFilter2D(white, cv2.CV_32F, g, g), repeat),
            best_ms(lambda: ndi.gaussian_filter(white, 2.0, truncate=3.0), repeat),
        )
    )
    out.append(
        (
            "bilinear 2x upsampling of the field",
            best_ms(lambda: cv2.resize(white, (w, h)), repeat),
            best_ms(lambda: ndi.zoom(white, 2.0, order=1), repeat),
        )
    )
    try:
        from PIL import Image

        def pil_jpeg() -> np.ndarray:
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format="JPEG", quality=85)
            return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

        def cv_jpeg() -> np.ndarray:
            return cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_COLOR)

        out.append(("JPEG q85 encode + decode (peer: Pillow)", best_ms(cv_jpeg, repeat), best_ms(pil_jpeg, repeat)))
    except ImportError:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    """Print frame rates per realism level, the cost of each effect and the peer comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--sequence", type=int, default=100, help="frames of the whole-sequence runs "
                        "(selfpose sim's default)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(
        f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.2f}; {args.width}x{args.height}, "
        f"5 objects, {args.frames} frames per level"
    )
    rates = frame_rates(args.width, args.height, args.frames, args.seed)
    stages = sorted({k for r in rates.values() for k in r} - {"frame", "cpu"}, key=lambda s: (len(s), s))
    print("\nlevel     " + " ".join(f"{s:>12}" for s in stages) + "   frame ms   cpu ms   frames/s")
    for level, r in rates.items():
        cells = " ".join(f"{r[s]:12.1f}" if s in r else f"{'-':>12}" for s in stages)
        print(f"{level:9} {cells}  {r['frame']:9.1f} {r['cpu']:8.1f}  {1000 / r['frame']:9.1f}")
    seq = sequence_rates(args.width, args.height, args.sequence, args.seed)
    print(f"\nwhole sequence, default level ({args.sequence} frames, frames(); two runs each, median): "
          f"casting in this process {seq['in_process']:.2f} frames/s, casting ahead in the worker process "
          f"{seq['ahead']:.2f} frames/s ({seq['ahead_frames']:.0f} frames cast ahead); "
          f"worker/in-process = {seq['ahead'] / seq['in_process']:.2f}x")
    config = SimConfig(
        width=args.width,
        height=args.height,
        num_frames=4,
        realism=realism_preset("default"),
        scene=SceneConfig(min_objects=5, max_objects=5),
    )
    sim = SimScene(config, args.seed)
    print(f"\ncost of each effect alone (default level, best of {args.repeat}; ms of wall and of process CPU time)")
    for name, wall, cpu in effect_costs(sim, 2, args.repeat):
        print(f"  {name:55} {wall:7.2f} {cpu:7.2f}")
    print("\nOpenCV against the peer it could have used (same inputs, outputs checked; best ms)")
    for name, ours, theirs in peers((args.height, args.width), args.repeat):
        print(f"  {name:45} OpenCV {ours:7.2f}  peer {theirs:8.2f}  peer/OpenCV = {theirs / ours:5.1f}x")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
