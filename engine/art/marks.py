"""Painters of marks laid one by one: pen lines, halftone dots, pointillist dabs, hatching, brushstrokes.

Each painter takes (rng, palette, size) and draws with every colour of the palette it is given, so
the colour tags stay true.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from engine.art.canvas import _SS, _coords, _downsample, _noise, _smoothstep, _to_image
from engine.art.palettes import Palette


def _flowing_lines(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    image = Image.new("RGB", (big, big), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    xs = np.linspace(-0.05, 1.05, 240)
    f1, f2 = rng.uniform(1.2, 2.2), rng.uniform(2.5, 4.0)
    p1, p2 = rng.uniform(0, 2 * math.pi, 2)
    lines = 46
    for k in range(lines):
        base = -0.15 + 1.3 * k / (lines - 1)
        drift = 0.03 * math.sin(k * 0.35)
        ys = (
            base
            + 0.09 * np.sin(2 * math.pi * f1 * xs + p1 + k * 0.08)
            + 0.04 * np.sin(2 * math.pi * f2 * xs + p2 - k * 0.05)
            + drift
        )
        points = list(zip((xs * big).tolist(), (ys * big).tolist()))
        colour = pal.rgb255(1 + k % (len(pal) - 1))
        draw.line(points, fill=colour, width=max(2, big // 220), joint="curve")
    return _downsample(image, size)


def _halftone(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    x, y = _coords(big)
    field = 0.6 * _noise(rng, big, octaves=3, base=2) + 0.4 * (1 - np.sqrt(x * x + y * y) / 1.42)
    ink = np.ones((big, big, 3), dtype=np.float32)
    inks = pal.all_rgb()[1:]
    for k, colour in enumerate(inks):
        angle = math.radians(15 + 30 * k)
        u = x * math.cos(angle) - y * math.sin(angle)
        v = x * math.sin(angle) + y * math.cos(angle)
        pitch = 0.07
        du = (u / pitch) - np.round(u / pitch)
        dv = (v / pitch) - np.round(v / pitch)
        dist = np.sqrt(du * du + dv * dv)
        shift = np.roll(field, (k * big // 7, -k * big // 9), axis=(0, 1))
        radius = 0.08 + 0.42 * shift
        dot = (1 - _smoothstep(radius - 0.04, radius + 0.04, dist))[..., None]
        ink *= 1 - dot * (1 - colour)  # multiply the ink over paper, like a press would
    rgb = ink * pal.rgb(0)
    return _downsample(_to_image(rgb), size)


def _pointillism(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    """Dabs of pure colour on bare paper; regions of the scene favour one colour, and a share of
    dabs borrows a neighbouring one, the optical mixing the pointillists relied on."""
    big = size * _SS
    image = Image.new("RGB", (big, big), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    accents = len(pal) - 1
    field = _noise(rng, 64, octaves=3, base=2)
    count = 5200
    xs, ys = rng.uniform(0, big, count), rng.uniform(0, big, count)
    radii = big * rng.uniform(0.0045, 0.0075, count)
    borrow = rng.random(count) < 0.18
    shift = rng.integers(1, max(2, accents), count)
    for x, y, r, b, k in zip(xs.tolist(), ys.tolist(), radii.tolist(), borrow.tolist(), shift.tolist()):
        region = min(int(field[int(y / big * 63), int(x / big * 63)] * accents), accents - 1)
        colour = 1 + ((region + k) % accents if b else region)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=pal.rgb255(colour))
    return _downsample(image, size)


def _hatching(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    """Pen hatching: the darker a region of an unseen landscape of tones, the more layers of
    parallel strokes cross it (diagonal, then the other diagonal, then horizontal)."""
    big = size * _SS
    x, y = _coords(big)
    tone = np.asarray(Image.fromarray(_noise(rng, size, octaves=3, base=2)).resize((big, big), Image.Resampling.BILINEAR))
    wobble = 0.004 * (_noise(rng, size, octaves=2, base=6) - 0.5)
    wobble = np.asarray(Image.fromarray(wobble.astype(np.float32)).resize((big, big), Image.Resampling.BILINEAR))
    pitch = 0.026
    inks = pal.all_rgb()[1:]
    rgb = np.broadcast_to(pal.rgb(0), (big, big, 3)).copy()
    directions = ((x + y) / math.sqrt(2), (x - y) / math.sqrt(2), y)
    thresholds = (0.3, 0.5, 0.7)
    for layer, (u, threshold) in enumerate(zip(directions, thresholds)):
        d = np.abs(((u + wobble) / pitch) % 1.0 - 0.5) * pitch  # distance to the nearest stroke
        stroke = 1 - _smoothstep(0.0015, 0.0035, d)
        ink = (stroke * _smoothstep(threshold, threshold + 0.04, tone))[..., None]
        rgb = rgb * (1 - ink) + inks[layer % len(inks)] * ink
    return _downsample(_to_image(rgb), size)


def _brushstrokes(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    """Short, thick strokes laid along a smooth flow field, each with a pale ridge where the loaded
    brush would have left a crest of paint; regions of the canvas favour one colour."""
    big = size * _SS
    image = Image.new("RGB", (big, big), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    accents = len(pal) - 1
    flow = _noise(rng, 48, octaves=2, base=2) * 2 * math.pi
    region = _noise(rng, 48, octaves=3, base=2)
    count = 1400
    xs, ys = rng.uniform(-0.05, 1.05, count) * big, rng.uniform(-0.05, 1.05, count) * big
    lengths = big * rng.uniform(0.03, 0.06, count)
    widths = (big * rng.uniform(0.009, 0.016, count)).astype(np.int64)
    stray = rng.random(count) < 0.2
    for x, y, length, width, s in zip(xs.tolist(), ys.tolist(), lengths.tolist(), widths.tolist(), stray.tolist()):
        i, j = int(np.clip(y / big * 47, 0, 47)), int(np.clip(x / big * 47, 0, 47))
        angle = float(flow[i, j])
        pick = min(int(region[i, j] * accents), accents - 1)
        if s:
            pick = int(rng.integers(0, accents))
        colour = pal.rgb255(1 + pick)
        dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
        draw.line((x - dx, y - dy, x + dx, y + dy), fill=colour, width=width)
        ridge = tuple(int(c + (255 - c) * 0.28) for c in colour)
        ox, oy = -width * 0.22 * math.sin(angle), width * 0.22 * math.cos(angle)
        draw.line((x - dx * 0.8 + ox, y - dy * 0.8 + oy, x + dx * 0.5 + ox, y + dy * 0.5 + oy), fill=ridge, width=max(1, width // 5))
    return _downsample(image, size)
