"""A small synthetic depth scene shared by the surface-selection tests: a dome in front of a wall."""

import cv2
import numpy as np

K = np.array([[300.0, 0.0, 100.0], [0.0, 300.0, 80.0], [0.0, 0.0, 1.0]])
H, W = 160, 200


def disc(cx: int = 100, cy: int = 80, r: int = 25) -> np.ndarray:
    """A filled disc (H, W) bool."""
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` grown by ``px`` pixels (a disc)."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def dome_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(depth, object mask): a sphere-cap object at 0.6 m in front of a wall at 0.9 m, with sensor-like noise."""
    rng = np.random.default_rng(seed)
    obj = disc()
    yy, xx = np.mgrid[:H, :W]
    rho2 = ((xx - 100) ** 2 + (yy - 80) ** 2) / 25.0**2
    depth = np.full((H, W), 0.9, np.float32)
    depth[obj] = 0.6 + 0.04 * rho2[obj]  # a dome: nearer in the middle
    depth += rng.normal(scale=0.001, size=depth.shape).astype(np.float32)
    return depth, obj
