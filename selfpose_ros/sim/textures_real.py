"""Procedural textures of real things: product labels with printed text, printed patterns, multi-colour stripes,
planks, fabric weave, stone and marble. All tileable (content never crosses the border, or is periodic)."""

from __future__ import annotations

import cv2
import numpy as np

from selfpose_ros.sim.textures import TEXTURE_SIZE, make_texture, periodic_noise, random_colour

#: Kinds made here; ``make_real_texture`` also accepts every kind of ``textures.make_texture``.
REAL_TEXTURE_KINDS = ("label", "printed", "stripes_multi", "planks", "fabric", "stone", "marble")
_LETTERS = "ABCDEFGHIJKLMNOPRSTUVWXYZ0123456789"


def _label(rng: np.random.Generator, size: int) -> np.ndarray:
    """A product label: a base colour, a contrasting band, a logo, lines of printed text and fine print noise."""
    base, band, ink = random_colour(rng), random_colour(rng), random_colour(rng, value=(0.05, 0.35))

    def c8(colour: np.ndarray) -> tuple[int, int, int]:
        return tuple(int(round(255 * float(c))) for c in colour)  # type: ignore[return-value]

    img = np.empty((size, size, 3), np.uint8)  # OpenCV draws text on 8-bit images only
    img[:] = c8(base)
    y0, y1 = sorted(rng.uniform(0.15, 0.85, size=2) * size)
    if y1 - y0 > 0.08 * size:
        img[int(y0) : int(y1)] = c8(band)
    cx, cy = rng.uniform(0.25, 0.75) * size, rng.uniform(0.25, 0.75) * size
    axes = (int(rng.uniform(0.08, 0.2) * size), int(rng.uniform(0.05, 0.15) * size))
    cv2.ellipse(
        img, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, c8(random_colour(rng)), -1, cv2.LINE_AA
    )
    lines = int(rng.integers(2, 6))
    for i in range(lines):
        text = "".join(_LETTERS[j] for j in rng.integers(len(_LETTERS), size=int(rng.integers(3, 9))))
        scale = float(rng.uniform(0.35, 0.9)) * size / 256
        y = int((i + 1) * size / (lines + 1) + rng.uniform(-6, 6))
        x = int(rng.uniform(0.03, 0.35) * size)
        cv2.putText(
            img,
            text,
            (x, y),
            int(rng.choice([0, 1, 2, 3, 4])),
            scale,
            c8(ink),
            max(1, int(round(2 * scale))),
            cv2.LINE_AA,
        )
    grain = periodic_noise(rng, size, feature=1.0)
    return np.clip(img.astype(np.float32) / 255.0 * (0.94 + 0.12 * grain[..., None]), 0.0, 1.0)


def _printed(rng: np.random.Generator, size: int) -> np.ndarray:
    """A printed all-over pattern: small shapes in a few colours on a base colour, plus fine print noise."""
    img = np.empty((size, size, 3), np.float32)
    img[:] = random_colour(rng)
    palette = [random_colour(rng) for _ in range(int(rng.integers(2, 5)))]
    for _ in range(int(rng.integers(20, 80))):
        colour = tuple(float(c) for c in palette[rng.integers(len(palette))])
        x, y, r = (int(v) for v in rng.uniform((8, 8, 2), (size - 8, size - 8, 9)))
        if rng.uniform() < 0.5:
            cv2.circle(img, (x, y), r, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), colour, -1)
    fine = periodic_noise(rng, size, feature=0.7)
    return np.clip(img * (0.85 + 0.3 * fine[..., None]), 0.0, 1.0)


def _stripes_multi(rng: np.random.Generator, size: int) -> np.ndarray:
    """Horizontal stripes of random widths in a few colours."""
    palette = [random_colour(rng) for _ in range(int(rng.integers(2, 5)))]
    rows = np.empty((size, 3), np.float32)
    y = 0
    while y < size:
        w = int(rng.integers(max(2, size // 40), max(3, size // 6)))
        rows[y : y + w] = palette[rng.integers(len(palette))]
        y += w
    return np.broadcast_to(rows[:, None, :], (size, size, 3)).copy()


def _planks(rng: np.random.Generator, size: int) -> np.ndarray:
    """Wooden floor boards: boards along u with their own tone and grain, dark seams between them."""
    c1 = random_colour(rng, saturation=(0.35, 0.7), value=(0.35, 0.8)) * np.array([1.0, 0.8, 0.55], np.float32)
    boards = int(rng.choice([2, 4, 8]))
    v = (np.arange(size) + 0.5) / size
    grain = periodic_noise(rng, size, feature=rng.uniform(2.0, 5.0))
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (rng.integers(10, 30) * v[:, None] + 2.0 * grain))
    tone = np.repeat(rng.uniform(0.75, 1.15, size=boards), size // boards)[:, None]
    t = (0.75 + 0.25 * rings**2) * tone
    img = c1[None, None, :] * t[..., None]
    seam = (np.arange(size) % (size // boards)) < max(1, size // 128)
    img[seam] *= 0.45
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _fabric(rng: np.random.Generator, size: int) -> np.ndarray:
    """Woven fabric: warp and weft threads of two colours with slub noise."""
    c1, c2 = random_colour(rng, saturation=(0.1, 0.7)), random_colour(rng, saturation=(0.1, 0.7))
    n = int(rng.choice([32, 64]))
    u = (np.arange(size) + 0.5) / size * n
    warp = 0.5 + 0.5 * np.cos(2 * np.pi * u)[None, :]
    weft = 0.5 + 0.5 * np.cos(2 * np.pi * u)[:, None]
    over = ((np.floor(u)[None, :] + np.floor(u)[:, None]) % 2).astype(np.float32)
    t = over * warp + (1 - over) * weft
    slub = periodic_noise(rng, size, feature=rng.uniform(1.0, 3.0))
    img = c1[None, None, :] * t[..., None] + c2[None, None, :] * (1 - t[..., None])
    return np.clip(img * (0.8 + 0.3 * slub[..., None]), 0.0, 1.0).astype(np.float32)


def _stone(rng: np.random.Generator, size: int) -> np.ndarray:
    """Granite-like stone: mottled base of two tones with dark and light speckles."""
    base = random_colour(rng, saturation=(0.0, 0.25), value=(0.35, 0.85))
    other = base * rng.uniform(0.6, 0.9)
    coarse = periodic_noise(rng, size, feature=rng.uniform(6.0, 14.0))
    img = base[None, None, :] * coarse[..., None] + other[None, None, :] * (1 - coarse[..., None])
    speck = periodic_noise(rng, size, feature=0.6)
    img = np.where((speck < 0.3)[..., None], img * 0.45, img)
    img = np.where((speck > 0.75)[..., None], np.minimum(img * 1.5 + 0.1, 1.0), img)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _marble(rng: np.random.Generator, size: int) -> np.ndarray:
    """Marble: a pale base with dark, turbulent veins."""
    base = random_colour(rng, saturation=(0.0, 0.15), value=(0.75, 0.97))
    vein = base * rng.uniform(0.3, 0.6)
    u = (np.arange(size) + 0.5) / size
    turb = periodic_noise(rng, size, feature=rng.uniform(4.0, 10.0))
    k = int(rng.integers(1, 4))
    t = np.abs(np.sin(np.pi * (k * (u[None, :] + u[:, None]) + 4.0 * turb))) ** 0.3
    return np.clip(vein[None, None, :] + (base - vein)[None, None, :] * t[..., None], 0.0, 1.0).astype(np.float32)


_MAKERS = {
    "label": _label,
    "printed": _printed,
    "stripes_multi": _stripes_multi,
    "planks": _planks,
    "fabric": _fabric,
    "stone": _stone,
    "marble": _marble,
}


def make_real_texture(kind: str, rng: np.random.Generator, size: int = TEXTURE_SIZE) -> np.ndarray:
    """A tileable RGB texture (size, size, 3) float32 in [0, 1]: one of ``REAL_TEXTURE_KINDS`` or a basic kind."""
    maker = _MAKERS.get(kind)
    if maker is None:
        return make_texture(kind, rng, size)  # type: ignore[arg-type]
    return np.ascontiguousarray(maker(rng, size), dtype=np.float32)
