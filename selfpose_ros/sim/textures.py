"""Procedural, tileable textures and how surfaces sample them (box or cylindrical mapping)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Side length in texels of every generated texture.
TEXTURE_SIZE = 256

TextureKind = Literal["solid", "checker", "stripes", "wood", "noise", "plaid", "dots"]
TEXTURE_KINDS: tuple[TextureKind, ...] = ("solid", "checker", "stripes", "wood", "noise", "plaid", "dots")
Mapping = Literal["box", "cylinder"]


def random_colour(rng: np.random.Generator, saturation: tuple[float, float] = (0.2, 0.9),
                  value: tuple[float, float] = (0.25, 0.95)) -> np.ndarray:
    """A random RGB colour in [0, 1] drawn in HSV space."""
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
    return np.array(rgb, dtype=np.float32)


def periodic_noise(rng: np.random.Generator, size: int, feature: float) -> np.ndarray:
    """Tileable smooth noise (size, size) in [0, 1]: white noise low-passed in Fourier space."""
    white = rng.standard_normal((size, size))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    lowpass = np.exp(-0.5 * (fx**2 + fy**2) * (feature * 2 * np.pi) ** 2)
    smooth = np.fft.irfft2(np.fft.rfft2(white) * lowpass, s=white.shape)
    lo, hi = smooth.min(), smooth.max()
    return ((smooth - lo) / max(hi - lo, 1e-12)).astype(np.float32)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a[None, None, :] * (1 - t[..., None]) + b[None, None, :] * t[..., None]


def make_texture(kind: TextureKind, rng: np.random.Generator, size: int = TEXTURE_SIZE) -> np.ndarray:
    """Generate a tileable RGB texture (size, size, 3) float32 in [0, 1] of the given kind."""
    c1, c2 = random_colour(rng), random_colour(rng)
    u = (np.arange(size) + 0.5) / size
    uu, vv = np.meshgrid(u, u)
    grain = periodic_noise(rng, size, feature=rng.uniform(2.0, 8.0))
    if kind == "solid":
        t = 0.08 * grain
    elif kind == "checker":
        n = int(rng.integers(2, 9))
        t = ((np.floor(uu * n) + np.floor(vv * n)) % 2).astype(np.float32)
    elif kind == "stripes":
        n, duty = int(rng.integers(2, 12)), rng.uniform(0.2, 0.7)
        t = ((vv * n) % 1.0 < duty).astype(np.float32)
    elif kind == "wood":
        c2 = (c1 * rng.uniform(0.45, 0.75)).astype(np.float32)
        rings = int(rng.integers(6, 20))
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (rings * vv + 1.5 * grain))
        t = t**3
    elif kind == "noise":
        t = periodic_noise(rng, size, feature=rng.uniform(1.0, 4.0))
    elif kind == "plaid":
        n = int(rng.integers(3, 10))
        t = 0.5 * (((uu * n) % 1.0 < 0.35).astype(np.float32) + ((vv * n) % 1.0 < 0.35).astype(np.float32))
    elif kind == "dots":
        n, r = int(rng.integers(3, 10)), rng.uniform(0.15, 0.4)
        du, dv = (uu * n) % 1.0 - 0.5, (vv * n) % 1.0 - 0.5
        t = (du**2 + dv**2 < r * r).astype(np.float32)
    else:
        raise ValueError(f"unknown texture kind {kind!r}; known: {TEXTURE_KINDS}")
    tex = _mix(c1, c2, t) * (0.93 + 0.14 * grain[..., None])
    return np.clip(tex, 0.0, 1.0).astype(np.float32)


@dataclass
class Material:
    """A texture and how it is laid on a surface: box mapping (by dominant normal axis) or around +Y."""

    texture: np.ndarray
    tile: float  # length (in the surface's local units) of one texture repeat; for "cylinder": along Y
    mapping: Mapping = "box"
    repeats_around: int = 1  # texture repeats around the Y axis for "cylinder"
    specular: float = 0.0  # strength of the Blinn-Phong highlight (0 = matte)
    shininess: float = 32.0  # Blinn-Phong exponent: larger = smaller, sharper highlight
    transparent: bool = False  # transparent-looking (clear plastic, glass): the shader blends what lies behind

    def __post_init__(self) -> None:
        if self.texture.ndim != 3 or self.texture.shape[2] != 3 or self.texture.shape[0] != self.texture.shape[1]:
            raise ValueError(f"texture must be (S, S, 3), got {self.texture.shape}")
        if self.tile <= 0:
            raise ValueError(f"tile must be positive, got {self.tile}")
        if self.specular < 0 or self.shininess <= 0:
            raise ValueError(f"need specular >= 0 and shininess > 0, got {self.specular}, {self.shininess}")
        self._flat = np.ascontiguousarray(self.texture.reshape(-1, 3))

    def sample(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """Albedo (n, 3) at surface points (n, 3) with normals (n, 3), both in the surface's local frame."""
        size = self.texture.shape[0]
        if self.mapping == "cylinder":
            u = (np.arctan2(points[:, 2], points[:, 0]) * (self.repeats_around / (2 * np.pi))).astype(np.float32)
            v = points[:, 1] / self.tile
        else:
            axis = np.abs(normals).argmax(axis=1)
            u = np.where(axis == 0, points[:, 1], points[:, 0]) / self.tile
            v = np.where(axis == 2, points[:, 1], points[:, 2]) / self.tile
        iu = np.floor(u * size).astype(np.int64) % size
        iv = np.floor(v * size).astype(np.int64) % size
        return np.take(self._flat, iv * size + iu, axis=0)


def solid_material(colour: np.ndarray) -> Material:
    """A single-colour material."""
    return Material(np.broadcast_to(np.asarray(colour, dtype=np.float32), (1, 1, 3)).copy(), tile=1.0)
