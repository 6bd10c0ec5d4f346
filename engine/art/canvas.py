"""Drawing helpers shared by the painters: coordinates, colour ramps, noise and conversions.

Shapes are drawn at `_SS` times the size and scaled down, which anti-aliases hard edges.
"""
from __future__ import annotations

import numpy as np
from PIL import Image


_SS = 2  # supersampling factor


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1], y pointing down."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    return np.meshgrid(axis, axis)


def _to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")


def _to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _downsample(image: Image.Image, size: int) -> Image.Image:
    return image.resize((size, size), Image.Resampling.LANCZOS) if image.size != (size, size) else image


def _ramp(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Blend smoothly through `colours` (k x 3) as t goes from 0 to 1; each colour sits at its stop."""
    t = np.clip(t, 0.0, 1.0) * (len(colours) - 1)
    lo = np.minimum(np.floor(t).astype(np.int32), len(colours) - 2)
    frac = (t - lo)[..., None]
    return colours[lo] * (1.0 - frac) + colours[lo + 1] * frac


def _noise(
    rng: np.random.Generator, size: int, octaves: int = 5, base: int = 3, persistence: float = 0.5
) -> np.ndarray:
    """Fractal value noise in [0, 1]: random grids of growing resolution, smoothly upscaled and summed."""
    total = np.zeros((size, size), dtype=np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = base * 2**octave + 1
        grid = rng.random((cells, cells), dtype=np.float32)
        total += amplitude * np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC))
        weight += amplitude
        amplitude *= persistence
    total /= weight
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def _noise_1d(rng: np.random.Generator, n: int, octaves: int = 4, base: int = 3) -> np.ndarray:
    total = np.zeros(n, dtype=np.float32)
    amplitude, weight = 1.0, 0.0
    xs = np.linspace(0.0, 1.0, n, dtype=np.float32)
    for octave in range(octaves):
        cells = base * 2**octave + 1
        knots = rng.random(cells).astype(np.float32)
        total += amplitude * np.interp(xs, np.linspace(0.0, 1.0, cells), knots).astype(np.float32)
        weight += amplitude
        amplitude *= 0.5
    return total / weight


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
