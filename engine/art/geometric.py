"""Painters of hard-edged geometry: rings, bands, checks, tiles, cells, facets and weaves.

Each painter takes (rng, palette, size) and draws with every colour of the palette it is given, so
the colour tags stay true.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from engine.art.canvas import _SS, _coords, _downsample, _noise, _ramp, _smoothstep, _to_image
from engine.art.palettes import Palette


def _rings(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    image = Image.new("RGB", (big, big), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    radius, i = big * 0.75, 1
    c = big / 2
    while radius > big * 0.02:
        draw.ellipse((c - radius, c - radius, c + radius, c + radius), fill=pal.rgb255(i))
        radius -= big * float(rng.uniform(0.025, 0.06))
        i += 1
    return _downsample(image, size)


def _stripes(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    x, y = _coords(big)
    angle = math.radians(rng.uniform(25, 65))
    u = x * math.cos(angle) + y * math.sin(angle)
    widths = rng.uniform(0.04, 0.16, 64)
    edges = np.cumsum(widths) - 1.6
    band = np.searchsorted(edges, u)
    rgb = pal.all_rgb()[band % len(pal)]
    return _downsample(_to_image(rgb), size)


def _op_checker(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    x, y = _coords(big)
    r = np.sqrt(x * x + y * y) + 1e-6
    bulge = np.power(r, 0.55) / r  # magnify the centre, pinch the edges
    squares = 9 + 2 * int(rng.integers(0, 3))
    u, v = x * bulge * squares / 2, y * bulge * squares / 2
    parity = (np.floor(u) + np.floor(v)).astype(np.int64) % 2
    rgb = pal.all_rgb()[parity % len(pal)]
    return _downsample(_to_image(rgb), size)


def _tiles(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    n = 8
    cell = big // n
    image = Image.new("RGB", (cell * n, cell * n), pal.rgb255(0))
    k = len(pal)
    for row in range(n):
        for col in range(n):
            ground = (row * n + col) % k
            fill = pal.rgb255((ground + 1 + int(rng.integers(0, k - 1))) % k)
            tile = Image.new("RGB", (cell, cell), pal.rgb255(ground))
            draw = ImageDraw.Draw(tile)  # drawing on its own tile clips shapes to the cell
            kind = int(rng.integers(0, 5))
            if kind == 0:  # quarter circle from a corner
                cx, cy = cell * int(rng.integers(0, 2)), cell * int(rng.integers(0, 2))
                draw.ellipse((cx - cell, cy - cell, cx + cell, cy + cell), fill=fill)
            elif kind == 1:  # inset circle
                m = cell * 0.14
                draw.ellipse((m, m, cell - m, cell - m), fill=fill)
            elif kind == 2:  # diagonal half
                corners = [(0, 0), (cell, 0), (cell, cell), (0, cell)]
                start = int(rng.integers(0, 4))
                draw.polygon([corners[(start + j) % 4] for j in range(3)], fill=fill)
            elif kind == 3:  # half circle on one side
                side = int(rng.integers(0, 4))
                boxes = [
                    (0, -cell / 2, cell, cell / 2),
                    (cell / 2, 0, 3 * cell / 2, cell),
                    (0, cell / 2, cell, 3 * cell / 2),
                    (-cell / 2, 0, cell / 2, cell),
                ]
                draw.ellipse(boxes[side], fill=fill)
            else:  # inset square
                m = cell * 0.25
                draw.rectangle((m, m, cell - m, cell - m), fill=fill)
            image.paste(tile, (col * cell, row * cell))
    return _downsample(image, size)


def _minimal_sun(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    image = Image.new("RGB", (big, big), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    horizon = big * rng.uniform(0.72, 0.8)
    cx, cy = big * rng.uniform(0.26, 0.36), big * rng.uniform(0.3, 0.4)
    r = big * rng.uniform(0.14, 0.18)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal.rgb255(1))
    draw.rectangle((0, horizon, big, big), fill=pal.rgb255(2))
    for j in range(3, len(pal)):
        y = horizon + big * 0.035 * (j - 2)
        draw.rectangle((big * 0.55, y, big * 0.92, y + big * 0.012), fill=pal.rgb255(j))
    return _downsample(image, size)


_LEAD = np.array([0.09, 0.08, 0.1], dtype=np.float32)  # near-black lead between the glass cells


def _stained_glass(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    x, y = _coords(size)
    seeds = rng.uniform(-1.05, 1.05, (72, 2)).astype(np.float32)
    d1 = np.full(x.shape, np.inf, dtype=np.float32)
    d2 = np.full(x.shape, np.inf, dtype=np.float32)
    owner = np.zeros(x.shape, dtype=np.int64)
    runner_up = np.zeros(x.shape, dtype=np.int64)
    for i, (sx, sy) in enumerate(seeds):
        d = (x - sx) ** 2 + (y - sy) ** 2
        closer = d < d1
        second = ~closer & (d < d2)
        d2 = np.where(closer, d1, np.where(second, d, d2))
        runner_up = np.where(closer, owner, np.where(second, i, runner_up))
        owner = np.where(closer, i, owner)
        d1 = np.where(closer, d, d1)
    # Exact distance to the border between the two nearest seeds (their perpendicular bisector).
    gap = np.linalg.norm(seeds[owner] - seeds[runner_up], axis=-1) + 1e-6
    border = (d2 - d1) / (2 * gap)
    rgb = pal.all_rgb()[owner % len(pal)]
    lead = _smoothstep(0.006, 0.011, border)[..., None]
    rgb = rgb * lead + _LEAD * (1 - lead)
    return _to_image(rgb)


def _mandala(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    x, y = _coords(big)
    r = np.sqrt(x * x + y * y)
    theta = np.arctan2(y, x)
    petals = int(rng.choice([8, 10, 12]))
    wave = np.abs(np.cos(petals * theta / 2))
    t = r * 5.0 + 0.45 * wave + 0.15 * np.abs(np.cos(petals * theta))
    band = np.floor(t).astype(np.int64)
    rgb = pal.all_rgb()[band % len(pal)]
    rgb[r > 0.97] = pal.rgb(0)
    return _downsample(_to_image(rgb), size)


def _low_poly(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    n = 11
    step = big / (n - 1)
    jitter = rng.uniform(-0.38, 0.38, (n, n, 2)) * step
    jitter[0, :, 1] = jitter[-1, :, 1] = 0
    jitter[:, 0, 0] = jitter[:, -1, 0] = 0
    gy, gx = np.mgrid[0:n, 0:n].astype(np.float64) * step
    px, py = gx + jitter[..., 0], gy + jitter[..., 1]
    image = Image.new("RGB", (big, big))
    draw = ImageDraw.Draw(image)
    tilt = rng.uniform(0.2, 0.5)
    triangles, shades = [], []
    for i in range(n - 1):
        for j in range(n - 1):
            quad = [
                (px[i, j], py[i, j]),
                (px[i, j + 1], py[i, j + 1]),
                (px[i + 1, j + 1], py[i + 1, j + 1]),
                (px[i + 1, j], py[i + 1, j]),
            ]
            split = (i + j) % 2
            for tri in [quad[:3], [quad[0], quad[2], quad[3]]] if split else [[quad[0], quad[1], quad[3]], quad[1:]]:
                cx = sum(p[0] for p in tri) / 3 / big
                cy = sum(p[1] for p in tri) / 3 / big
                triangles.append(tri)
                shades.append((1 - tilt) * cy + tilt * cx + rng.uniform(-0.06, 0.06))
    shades = np.array(shades, dtype=np.float32)
    shades = (shades - shades.min()) / max(float(shades.max() - shades.min()), 1e-6)  # use the full ramp
    colours = _ramp(shades, pal.all_rgb()[::-1])
    for tri, colour in zip(triangles, colours):
        draw.polygon(tri, fill=tuple(int(v * 255 + 0.5) for v in colour))
    return _downsample(image, size)


def _spiral(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    x, y = _coords(big)
    r = np.sqrt(x * x + y * y) + 1e-4
    theta = np.arctan2(y, x)
    arms = int(rng.choice([3, 4, 5]))
    t = arms * theta / (2 * math.pi) + 2.2 * np.log(r)
    n = len(pal)
    # a sawtooth that climbs through all greys and falls back, so every shade is a band
    phase = (t % 1.0) * (2 * n - 2)
    band = np.where(phase < n, np.floor(phase), 2 * n - 2 - np.floor(phase)).astype(np.int64)
    rgb = pal.all_rgb()[np.clip(band, 0, n - 1)]
    return _downsample(_to_image(rgb), size)


def _memphis(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    image = Image.new("RGB", (big, big), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    outline = pal.rgb255(len(pal) - 1)
    accents = list(range(1, len(pal) - 1))
    width = big // 170
    for k in range(46):
        colour = pal.rgb255(accents[k % len(accents)])
        cx, cy = rng.uniform(0, big, 2)
        s = big * rng.uniform(0.04, 0.09)
        kind = k % 5
        if kind == 0:
            draw.ellipse((cx - s, cy - s, cx + s, cy + s), fill=colour, outline=outline, width=width)
        elif kind == 1:
            a = rng.uniform(0, 2 * math.pi)
            tri = [(cx + s * 1.3 * math.cos(a + j * 2.094), cy + s * 1.3 * math.sin(a + j * 2.094)) for j in range(3)]
            draw.polygon(tri, fill=colour, outline=outline, width=width)
        elif kind == 2:
            zig = [(cx - 2 * s + j * s * 0.5, cy + (s * 0.4 if j % 2 else -s * 0.4)) for j in range(9)]
            draw.line(zig, fill=colour, width=width * 3, joint="curve")
        elif kind == 3:
            for d in range(3):
                for e in range(3):
                    px, py = cx + d * s * 0.6, cy + e * s * 0.6
                    draw.ellipse((px - width * 1.5, py - width * 1.5, px + width * 1.5, py + width * 1.5), fill=outline)
        else:
            draw.rectangle((cx - s, cy - s * 0.5, cx + s, cy + s * 0.5), fill=colour, outline=outline, width=width)
    return _downsample(image, size)


def _truchet(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    big = size * _SS
    n = 14
    cell = big / n
    image = Image.new("RGB", (big, big), pal.rgb255(0))
    draw = ImageDraw.Draw(image)
    thick = int(cell * 0.2)
    thin = max(2, int(cell * 0.05))
    for row in range(n):
        for col in range(n):
            x0, y0 = col * cell, row * cell
            flip = bool(rng.integers(0, 2))
            corners = [(x0, y0), (x0 + cell, y0 + cell)] if flip else [(x0 + cell, y0), (x0, y0 + cell)]
            spans = [(0, 90), (180, 270)] if flip else [(90, 180), (270, 360)]
            inner_colour = pal.rgb255(2 + (row * n + col) % max(1, len(pal) - 2))
            for (cx, cy), (start, end) in zip(corners, spans):
                box = (cx - cell / 2, cy - cell / 2, cx + cell / 2, cy + cell / 2)
                draw.arc(box, start, end, fill=pal.rgb255(1), width=thick)
                inset = thick / 2 - thin / 2
                inner = (box[0] + inset, box[1] + inset, box[2] - inset, box[3] - inset)
                draw.arc(inner, start, end, fill=inner_colour, width=thin)
    return _downsample(image, size)


def _pixels(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    cells = 32
    field = _noise(rng, cells, octaves=3, base=2)
    order = np.argsort(pal.all_rgb().sum(axis=1))
    index = order[np.minimum((field * len(pal)).astype(np.int64), len(pal) - 1)]
    small = _to_image(pal.all_rgb()[index])
    return small.resize((size, size), Image.Resampling.NEAREST)


def _plaid(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    n = len(pal)
    half = [(int(rng.integers(0, n)), int(rng.integers(4, 22))) for _ in range(5)]
    half[0] = (0, 40)
    used = {c for c, _ in half}
    for c in range(n):  # every palette colour gets a thread
        if c not in used:
            half.append((c, int(rng.integers(4, 12))))
    sett = half + half[::-1]  # tartans mirror their thread count
    thread = np.concatenate([np.full(w, c, dtype=np.int64) for c, w in sett])
    idx = np.arange(size)
    warp = thread[idx % len(thread)]
    weft = thread[(idx + len(thread) // 3) % len(thread)]
    twill = ((idx[:, None] + idx[None, :]) // 2) % 2 == 0  # 2/2 twill: threads alternate on diagonals
    colours = pal.all_rgb()
    rgb = np.where(twill[..., None], colours[warp][None, :, :], colours[weft][:, None, :])
    shade = np.where(twill, 1.0, 0.9)[..., None]
    return _to_image(rgb * shade)
