"""Painters of continuous fields: gradients, glows, marbled and contoured noise, skies and landscapes.

Each painter takes (rng, palette, size) and draws with every colour of the palette it is given, so
the colour tags stay true.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from engine.art.canvas import _SS, _coords, _downsample, _noise, _noise_1d, _ramp, _smoothstep, _to_array, _to_image
from engine.art.palettes import Palette


def _gradient_glow(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    x, y = _coords(size)
    angle = rng.uniform(-0.4, 0.4)
    t = (y * math.cos(angle) + x * math.sin(angle)) * 0.5 + 0.5
    rgb = _ramp(t, pal.all_rgb()[::-1])
    gx, gy = rng.uniform(-0.45, 0.45), rng.uniform(-0.4, 0.0)
    glow = np.exp(-((x - gx) ** 2 + (y - gy) ** 2) / 0.12)[..., None]
    light = np.maximum(pal.all_rgb().max(axis=0), 0.9)
    rgb = rgb * (1.0 - 0.55 * glow) + light * 0.55 * glow
    return _to_image(rgb)


def _marble(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    """Paper marbling: parallel bands of ink combed and swirled by a smooth warp."""
    big = size * _SS
    x, y = _coords(big)
    warp_a = _noise(rng, big, octaves=3, base=1)
    warp_b = _noise(rng, big, octaves=3, base=2)
    angle = rng.uniform(0, math.pi)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    u = u + 0.9 * (warp_a - 0.5) + 0.12 * np.sin(6.0 * v + 5.0 * warp_b)
    band = np.floor(u * 7.0).astype(np.int64)
    return _downsample(_to_image(pal.all_rgb()[band % len(pal)]), size)


def _bokeh(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    x, y = _coords(size)
    rgb = _ramp(0.5 + 0.35 * y + 0.15 * x, np.stack([pal.rgb(0), pal.rgb(1) * 0.35 + pal.rgb(0) * 0.65]))
    for k in range(34):
        cx, cy = rng.uniform(-1.0, 1.0, 2)
        radius = rng.uniform(0.06, 0.22)
        softness = rng.uniform(0.25, 0.6) * radius
        alpha = rng.uniform(0.85, 1.0)
        x0, x1 = [int(np.clip((v + 1) / 2 * size, 0, size)) for v in (cx - radius - softness, cx + radius + softness)]
        y0, y1 = [int(np.clip((v + 1) / 2 * size, 0, size)) for v in (cy - radius - softness, cy + radius + softness)]
        if x1 <= x0 or y1 <= y0:
            continue
        d = np.sqrt((x[y0:y1, x0:x1] - cx) ** 2 + (y[y0:y1, x0:x1] - cy) ** 2)
        a = (alpha * (1.0 - _smoothstep(radius - softness, radius, d)))[..., None]
        colour = pal.rgb(1 + k % (len(pal) - 1))
        rgb[y0:y1, x0:x1] = rgb[y0:y1, x0:x1] * (1 - a) + colour * a
    return _to_image(rgb).filter(ImageFilter.GaussianBlur(2))


def _neon_grid(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    horizon = int(big * 0.58)
    x, y = _coords(big)
    # night sky deepening to a band of haze that reaches its full colour well above the ridge
    sky = _ramp(
        np.clip((y + 1) / (2 * horizon / big) / 0.62, 0, 1),
        np.stack([pal.rgb(0), pal.rgb(0), pal.rgb(4) * 0.5, pal.rgb(4)]),
    )
    image = _to_image(sky)
    draw = ImageDraw.Draw(image)
    cx, r = big / 2, big * 0.22
    cy = horizon - r * 0.35
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal.rgb255(1))
    # a ridge of mountains drawn as an outline
    ridge = _noise_1d(rng, 64)
    points = [(big * i / 63, horizon - big * (0.03 + 0.1 * float(ridge[i]))) for i in range(64)]
    draw.polygon(points + [(big, horizon), (0, horizon)], fill=pal.rgb255(0))
    draw.line(points, fill=pal.rgb255(3), width=big // 300 + 2)
    draw.rectangle((0, horizon, big, big), fill=pal.rgb255(0))
    grid = Image.new("RGB", (big, big), (0, 0, 0))
    gdraw = ImageDraw.Draw(grid)
    width = big // 400 + 2
    for k in range(-14, 15):  # lines converging on the vanishing point
        gdraw.line((cx, horizon, cx + k * big * 0.14, big), fill=pal.rgb255(2), width=width)
    for k in range(1, 14):  # rungs getting closer toward the horizon
        yy = horizon + (big - horizon) * (k / 13) ** 2.2
        gdraw.line((0, yy, big, yy), fill=pal.rgb255(2), width=width)
    glow = grid.filter(ImageFilter.GaussianBlur(big / 90))
    base = np.maximum(_to_array(image), _to_array(grid))
    out = np.clip(base + 1.6 * _to_array(glow), 0, 1)
    return _downsample(_to_image(out), size)


def _contours(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    height = _noise(rng, size, octaves=4, base=2)
    levels = 16
    h = height * levels
    level = np.floor(h).astype(np.int64)
    frac = h - level
    gy, gx = np.gradient(h)
    slope = np.sqrt(gx * gx + gy * gy) + 1e-4
    dist = np.minimum(frac, 1 - frac) / slope  # distance to the nearest contour, in pixels
    ink = (1 - _smoothstep(0.6, 1.6, dist))[..., None]
    line_colours = pal.all_rgb()[1:]
    colour = line_colours[level % len(line_colours)]
    rgb = pal.rgb(0) * (1 - ink) + colour * ink
    return _to_image(rgb)


def _mountains(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    x, y = _coords(size)
    layers = len(pal) - 1
    rgb = _ramp((y + 1) / 2, np.stack([pal.rgb(0) * 0.85 + 0.15, pal.rgb(0), pal.rgb(1) * 0.5 + pal.rgb(0) * 0.5]))
    sun = np.exp(-((x - rng.uniform(-0.4, 0.4)) ** 2 + (y + 0.25) ** 2) / 0.03)[..., None]
    rgb = rgb * (1 - 0.6 * sun) + 0.6 * sun
    rows = (y + 1) / 2
    for k in range(layers):
        ridge = _noise_1d(rng, size, octaves=5, base=2 + k)
        top = 0.38 + 0.13 * k + (0.2 - 0.02 * k) * (ridge - 0.5)
        mask = (rows > top[None, :]).astype(np.float32)[..., None]
        rgb = rgb * (1 - mask) + pal.rgb(1 + k) * mask
    return _to_image(rgb).filter(ImageFilter.SMOOTH)


def _colour_field(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    blocks = len(pal) - 1
    margin = size * 0.1
    gap = size * 0.05
    height = (size - 2 * margin - gap * (blocks - 1)) / blocks
    weights = rng.uniform(0.7, 1.3, blocks)
    heights = height * blocks * weights / weights.sum()
    top = margin
    for k in range(blocks):
        draw.rectangle((margin, top, size - margin, top + heights[k]), fill=pal.rgb255(1 + k))
        top += heights[k] + gap
    image = image.filter(ImageFilter.GaussianBlur(size / 80))
    return image


def _watercolour(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    x, y = _coords(size)
    paper = pal.rgb(0) * (0.96 + 0.04 * _noise(rng, size, octaves=4, base=16)[..., None])
    rgb = paper.copy()
    washes = len(pal) - 1
    for k in range(washes * 2):
        colour = pal.rgb(1 + k % washes)
        cx, cy = rng.uniform(-0.55, 0.55, 2)
        radius = rng.uniform(0.28, 0.45)
        wobble = _noise(rng, size, octaves=4, base=3)
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / radius + 0.55 * (wobble - 0.5)
        body = 1 - _smoothstep(0.85, 1.0, d)
        edge = np.exp(-((d - 0.93) ** 2) / 0.002)  # pigment pooling at the drying edge
        alpha = np.clip(0.88 * body + 0.12 * edge, 0, 0.97)[..., None]
        rgb = rgb * (1 - alpha) + (colour * (1 - 0.25 * edge[..., None])) * alpha
    return _to_image(rgb).filter(ImageFilter.GaussianBlur(1.2))


def _dunes(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    """Stylised dunes: long windward slopes brightening toward a sharp crest, then a shaded lee side."""
    x, y = _coords(size)
    warp = _noise(rng, size, octaves=2, base=1)
    v = y + 0.16 * np.sin(2.1 * x + rng.uniform(0, 2 * math.pi)) + 0.25 * (warp - 0.5)
    phase = (v * 2.6) % 1.0
    crest = 0.7
    windward = 0.86 + 0.24 * np.power(np.clip(phase / crest, 0, 1), 1.5)
    lee = 0.62 + 0.24 * np.clip((phase - crest) / (1 - crest), 0, 1)
    light = np.where(phase < crest, windward, lee)
    base = _ramp((y + 0.7) / 1.7, pal.all_rgb())  # the far dunes (top) sit in the palette's first colour
    return _to_image(base * light[..., None]).filter(ImageFilter.GaussianBlur(1.5))


def _sunburst(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    """Shafts of light fanning out from a source: a radial ramp from the palette's darkest colour
    (far) to its brightest (at the source), pushed brighter along each ray."""
    x, y = _coords(size)
    sx, sy = rng.uniform(-0.35, 0.35), rng.uniform(-0.85, -0.45)
    r = np.sqrt((x - sx) ** 2 + (y - sy) ** 2)
    theta = np.arctan2(y - sy, x - sx)
    rays = int(rng.integers(9, 15))
    phase = rng.uniform(0, 2 * math.pi)
    wobble = 0.35 * _noise_1d(rng, 720, octaves=3, base=4)[((theta + math.pi) / (2 * math.pi) * 719).astype(np.int64)]
    shaft = _smoothstep(0.35, 0.75, np.cos(rays * theta + phase + wobble))
    t = np.clip((1.6 - r) / 1.3, 0.0, 1.0)  # beyond 1.6 from the source: the darkest colour, flat
    t = np.clip(t + 0.22 * shaft * t, 0.0, 1.0)
    by_light = pal.all_rgb()[np.argsort(pal.all_rgb() @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32))]
    rgb = _ramp(t, by_light)
    core = np.exp(-(r**2) / 0.015)[..., None]  # a white-hot core, so the source glows on any palette
    rgb = rgb * (1.0 - 0.7 * core) + np.maximum(by_light[-1], 0.95) * 0.7 * core
    return _to_image(rgb).filter(ImageFilter.GaussianBlur(1.0))


def _aurora(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    """Curtains of light over the ground colour: one wavering ribbon per accent colour, streaked
    vertically and fading softly at its edges."""
    x, y = _coords(size)
    rgb = np.broadcast_to(pal.rgb(0), (size, size, 3)).copy()
    accents = len(pal) - 1
    for k in range(accents):
        centre = -0.45 + 0.9 * (k + 0.5) / accents + 0.28 * (_noise_1d(rng, size, octaves=4, base=2) - 0.5)
        centre = centre + 0.08 * np.sin(np.linspace(0, 2 * math.pi * rng.uniform(1, 2.5), size) + rng.uniform(0, 6))
        width = rng.uniform(0.09, 0.14)
        streaks = 0.75 + 0.25 * _noise_1d(rng, size, octaves=3, base=24)
        band = np.exp(-(((y - centre[None, :]) / width) ** 2))
        alpha = np.clip(band * streaks[None, :] * 1.15, 0.0, 1.0)[..., None]
        rgb = rgb * (1 - alpha) + pal.rgb(1 + k) * alpha
    return _to_image(rgb).filter(ImageFilter.GaussianBlur(1.5))
