"""The colour camera after the light arrives: exposure, white balance, vignetting, motion blur, noise, JPEG.

Per sequence: an exposure error, red/blue white-balance gains, an exposure time and a JPEG quality; per
frame: a small exposure drift, a motion-blur kernel along the image motion of the scene's target point
during the exposure (from the trajectory's speed), shot and read noise, and JPEG compression. OpenCV does
the image work (LUT, filter2D, imencode); the per-sequence noise bank makes noise cost one slice per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from selfpose_ros.sim.realism import ImagePipeline

#: Extra rows and columns of the per-sequence noise bank; each frame reads a window at a random offset.
NOISE_BANK_MARGIN = 64


@dataclass(frozen=True)
class CameraLook:
    """Per-sequence settings of the colour camera."""

    gain: float  # exposure multiplier
    wb: tuple[float, float, float]  # per-channel (r, g, b) gains
    exposure_time_s: float
    jpeg_quality: int  # 0 = none


def draw_look(config: ImagePipeline, rng: np.random.Generator) -> CameraLook:
    """Draw a sequence's exposure, white balance, exposure time and JPEG quality."""
    gain = float(2.0 ** (config.exposure_stops * rng.standard_normal()))
    r, b = (float(np.exp(config.white_balance * rng.standard_normal())) for _ in range(2))
    t = float(rng.uniform(*config.exposure_time_s)) if config.exposure_time_s[1] > 0 else 0.0
    q = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)) if config.jpeg_quality[1] else 0
    c = config.cast
    return CameraLook(gain, (r * c[0], c[1], b * c[2]), t, q)


def tone_lut(gain: float, wb: tuple[float, float, float]) -> np.ndarray:
    """(256, 1, 3) uint8 look-up table applying exposure and white balance in linear light (sRGB gamma 2.2)."""
    x = (np.arange(256, dtype=np.float64) / 255.0) ** 2.2
    cols = [np.clip((x * gain * g) ** (1 / 2.2), 0.0, 1.0) for g in wb]
    return np.rint(np.stack(cols, axis=1) * 255.0).astype(np.uint8).reshape(256, 1, 3)


def vignette_map(shape: tuple[int, int], strength: float) -> np.ndarray:
    """(H, W, 1) float32 gain falling from 1 in the centre to 1 - strength in the corners (cos^4-like)."""
    h, w = shape
    y = (np.arange(h, dtype=np.float32) - 0.5 * (h - 1)) / (0.5 * h)
    x = (np.arange(w, dtype=np.float32) - 0.5 * (w - 1)) / (0.5 * w)
    r2 = (x[None, :] ** 2 + y[:, None] ** 2) / 2.0
    return (1.0 - np.float32(strength) * r2)[..., None].astype(np.float32)


def blur_kernel(dx: float, dy: float) -> np.ndarray | None:
    """Normalised line kernel for a motion of (dx, dy) pixels during the exposure; None under half a pixel."""
    length = float(np.hypot(dx, dy))
    if length < 0.5:
        return None
    size = int(np.ceil(length)) | 1
    k = np.zeros((size, size), np.float32)
    c = 0.5 * (size - 1)
    n = max(2, int(np.ceil(length * 2)))
    for s in np.linspace(-0.5, 0.5, n):
        k[int(round(c + s * dy)), int(round(c + s * dx))] += 1.0
    return k / k.sum()


def image_motion(K: np.ndarray, T_a: np.ndarray, T_b: np.ndarray, point: np.ndarray) -> tuple[float, float]:
    """Pixel displacement of a map ``point`` between camera poses T_map_optical ``T_a`` and ``T_b``."""
    uv = []
    for T in (T_a, T_b):
        p = np.linalg.inv(T) @ np.append(point, 1.0)
        z = max(float(p[2]), 1e-3)
        uv.append((K[0, 0] * p[0] / z + K[0, 2], K[1, 1] * p[1] / z + K[1, 2]))
    return uv[1][0] - uv[0][0], uv[1][1] - uv[0][1]


def _decode_rgb(buf: np.ndarray) -> np.ndarray:
    """Decode a JPEG to (H, W, 3) uint8 RGB (straight to RGB where OpenCV >= 4.10 can, else through BGR)."""
    flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
    if flag is not None:
        return cv2.imdecode(buf, flag)
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class ColourCamera:
    """Applies one sequence's camera look to rendered frames; deterministic given the generators.

    Vignetting and noise run in integer arithmetic (8.8 fixed point gain, noise in 1/16 sigma steps from an
    int8 bank, sigma by intensity from a table): five times faster than the same in float32.
    """

    def __init__(self, config: ImagePipeline, shape: tuple[int, int], rng: np.random.Generator):
        self.config, self.shape = config, shape
        self.look = draw_look(config, rng)
        self._vignette = None
        if config.vignetting > 0:
            self._vignette = np.rint(vignette_map(shape, config.vignetting) * 256).astype(np.uint16)
        self._bank: np.ndarray | None = None
        if config.read_noise > 0 or config.shot_noise > 0:
            h, w = shape
            bank = rng.standard_normal((h + NOISE_BANK_MARGIN, w + NOISE_BANK_MARGIN, 3), dtype=np.float32)
            self._bank = np.clip(np.rint(bank * 16), -127, 127).astype(np.int8)
            levels = np.arange(256, dtype=np.float64)
            sigma = np.sqrt(config.read_noise**2 + config.shot_noise**2 * levels / 255.0)
            self._sigma16 = np.rint(sigma * 16).astype(np.int16)  # sigma in 1/16 levels, <= 256 (validated)

    def apply(self, rgb: np.ndarray, motion_px: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
        """The camera's image (H, W, 3) uint8 of a rendered frame, given the image motion during the exposure."""
        c, look = self.config, self.look
        if rgb.shape[:2] != self.shape:
            raise ValueError(f"image {rgb.shape[:2]} does not match the camera's {self.shape}")
        out = rgb
        drift = float(2.0 ** (0.25 * c.exposure_stops * rng.standard_normal())) if c.exposure_stops else 1.0
        if c.exposure_stops or c.white_balance:
            out = cv2.LUT(out, tone_lut(look.gain * drift, look.wb))
        kernel = blur_kernel(*motion_px)
        if kernel is not None:
            out = cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REFLECT)
        if self._vignette is not None:
            scaled = out.astype(np.uint16)  # (out * gain + 128) >> 8, in place
            scaled *= self._vignette
            scaled += 128
            scaled >>= 8
            out = scaled.astype(np.uint8)
        if self._bank is not None:
            oy, ox = (int(v) for v in rng.integers(0, NOISE_BANK_MARGIN + 1, size=2))
            h, w = self.shape
            noise = self._bank[oy : oy + h, ox : ox + w]  # N(0, 1) * 16
            delta = cv2.LUT(out, self._sigma16)  # int16 sigma of each level, in 1/16 levels
            delta *= noise
            delta += 128
            delta >>= 8  # int16 levels, |.| <= 256 * 127 / 256
            if rng.uniform() >= 0.5:
                np.negative(delta, out=delta)
            delta += out
            out = np.clip(delta, 0, 255, out=delta).astype(np.uint8)
        if look.jpeg_quality:
            bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            out = _decode_rgb(buf)
        return out if out is not rgb else rgb.copy()
