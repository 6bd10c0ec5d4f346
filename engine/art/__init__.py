"""The onboarding gallery: images a new member reacts to so we can learn their taste.

The default gallery is generative art drawn here with numpy and Pillow, so a fresh install can onboard
members with no GPU, no network and no model weights. Every image comes from a small recipe (a
pattern, a named palette, a few finishing touches) and its tags are derived from that recipe, so they
are true by construction: an image tagged "teal" contains teal, one tagged "symmetrical" is drawn
symmetrically. Those tags matter: when a member writes something vague such as "love the colours",
the extractor resolves it to the tags of the image they answered. The default is 50 images (the
method's public demo shows about 50), drawn in a few seconds at first start.

Tags come in two kinds. Those of a pattern, a palette or a finish hold for every pairing the
pattern accepts (`Pattern.fits`). Those that depend on the pairing (contrast, "busy",
"minimalist", "dark palette") and the mood words, the least objective of all, are written per
curated recipe, and each mood follows a stated rule (see `MOODS`); tests/test_gallery.py measures
every one of them on the pixels of all 50 images.

Operators can replace the art with their own folder holding a `manifest.json` of the same shape and
point the bot at it (`[gallery] path`), for instance a gallery rendered by the model itself with
`viper gallery build` (engine/gallery_build.py). `load_gallery` validates such a folder and fails
with a message that names the file at fault.

Manifest shape: a JSON list, one object per image::

    [{"id": "g01", "file": "g01.png", "prompt": "Concentric rings ...", "tags": ["teal", ...]}, ...]

or an object with that list under "images" and, optionally, a header beside it ("generator": how
the images were made, "total" and "complete": how far a build got).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from storage.gallery import ID_PATTERN, MANIFEST_NAME, Gallery, GalleryImage, load_gallery, write_atomic
from viper.contracts.errors import InvalidArgument, ViperError

__all__ = [
    "CURATED",
    "DEFAULT_COUNT",
    "GENERATOR_VERSION",
    "ID_PATTERN",
    "IMAGE_SIZE",
    "MANIFEST_NAME",
    "MOODS",
    "PALETTES",
    "PATTERNS",
    "Gallery",
    "GalleryImage",
    "Recipe",
    "ensure_gallery",
    "load_gallery",
    "recipe_for",
    "render_image",
    "write_atomic",
]

log = logging.getLogger("viper.gallery")

IMAGE_SIZE = 512
# Bump when a change to the recipes or renderers alters any image. It is recorded in the folder, so
# an upgrade redraws every image instead of pairing old pictures with new tags. (Version 2 grew the
# curated list from 24 to 50 recipes and changed the pairings past it.)
GENERATOR_VERSION = 2
# The namespace of the per-image random seeds. It stays fixed across versions, so an image whose
# recipe and renderer did not change comes back byte for byte after an upgrade's redraw, and
# members who commented on it before see the same picture.
_SEED_EPOCH = 1
DEFAULT_COUNT = 50
_VERSION_FILE = ".generator-version"
MAX_COUNT = 500


# --------------------------------------------------------------------------------------------------
# Generating the default gallery


def ensure_gallery(directory: Path | str, *, count: int = DEFAULT_COUNT) -> Gallery:
    """Create the generated gallery in `directory` where missing and return it.

    Idempotent and cheap on the second call: only missing images are drawn (all of them after an
    upgrade that changed the drawings), and the manifest is rewritten only when its content would
    change. Each image depends on its id alone, so the same id always yields the same bytes, on any
    machine with the same numpy and Pillow.
    """
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise InvalidArgument(f"count must be an integer between 1 and {MAX_COUNT}, got {count!r}", argument="count")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ViperError(f"cannot create gallery folder {directory}: {exc}") from exc

    version_path = directory / _VERSION_FILE
    try:
        drawn_by = version_path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        drawn_by = None
    redraw = drawn_by != str(GENERATOR_VERSION)

    entries = []
    for index in range(count):
        recipe = recipe_for(index)
        image_id = _image_id(index)
        file_name = f"{image_id}.png"
        path = directory / file_name
        if redraw or not path.is_file():
            write_atomic(path, _png_bytes(render_image(image_id, recipe)))
        entries.append({"id": image_id, "file": file_name, "prompt": recipe.prompt(), "tags": recipe.tags()})

    manifest = (json.dumps(entries, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    manifest_path = directory / MANIFEST_NAME
    try:
        current = manifest_path.read_bytes()
    except OSError:
        current = None
    if current != manifest:
        write_atomic(manifest_path, manifest)
    if redraw:
        write_atomic(version_path, f"{GENERATOR_VERSION}\n".encode())
    return load_gallery(directory)


def _image_id(index: int) -> str:
    return f"g{index + 1:02d}"


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _seed(image_id: str) -> int:
    digest = hashlib.sha256(f"viper-gallery/{_SEED_EPOCH}/{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


# --------------------------------------------------------------------------------------------------
# Palettes: named colours, so the tags can name them. Colour 0 is the ground the pattern sits on.


@dataclass(frozen=True)
class Palette:
    key: str
    colours: tuple[tuple[str, tuple[int, int, int]], ...]
    tags: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.colours]

    def rgb(self, i: int) -> np.ndarray:
        return np.array(self.colours[i % len(self.colours)][1], dtype=np.float32) / 255.0

    def rgb255(self, i: int) -> tuple[int, int, int]:
        return self.colours[i % len(self.colours)][1]

    def all_rgb(self) -> np.ndarray:
        return np.array([c for _, c in self.colours], dtype=np.float32) / 255.0

    @property
    def ground_luminance(self) -> float:
        """Relative luminance (Rec. 709 weights on the 0..1 values) of colour 0, the ground."""
        return float(self.rgb(0) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32))

    def __len__(self) -> int:
        return len(self.colours)


def _p(key: str, tags: tuple[str, ...], *colours: tuple[str, tuple[int, int, int]]) -> Palette:
    return Palette(key, tuple(colours), tags)


PALETTES: dict[str, Palette] = {
    p.key: p
    for p in (
        _p(
            "ocean",
            ("cool colors",),
            ("navy", (18, 32, 78)),
            ("teal", (0, 128, 128)),
            ("turquoise", (64, 214, 200)),
            ("mint", (176, 236, 208)),
        ),
        _p(
            "sunset",
            ("warm colors",),
            ("crimson", (200, 24, 58)),
            ("coral", (255, 112, 96)),
            ("amber", (255, 184, 28)),
            ("gold", (226, 178, 60)),
        ),
        _p(
            "primaries",
            ("primary colors", "bold colors"),
            ("cream", (244, 236, 216)),
            ("red", (214, 40, 40)),
            ("cobalt blue", (28, 66, 168)),
            ("yellow", (246, 200, 30)),
            ("black", (22, 22, 24)),
        ),
        _p(
            "jewel",
            ("jewel tones",),
            ("sapphire blue", (16, 64, 160)),
            ("emerald", (0, 150, 110)),
            ("ruby red", (160, 16, 40)),
            ("amethyst", (140, 90, 190)),
            ("gold", (214, 172, 56)),
        ),
        _p(
            "neon",
            ("neon colors", "vibrant colors"),
            ("black", (8, 6, 16)),
            ("hot pink", (255, 30, 150)),
            ("electric blue", (20, 150, 255)),
            ("lime green", (120, 255, 40)),
            ("violet", (150, 40, 240)),
        ),
        _p("ink", ("black and white",), ("white", (246, 246, 246)), ("black", (12, 12, 12))),
        _p(
            "greyscale",
            ("monochrome",),
            ("black", (14, 14, 16)),
            ("charcoal", (58, 58, 62)),
            ("gray", (128, 128, 128)),
            ("silver", (192, 192, 196)),
            ("white", (244, 244, 244)),
        ),
        _p(
            "pastel",
            ("pastel colors",),
            ("cream", (250, 244, 232)),
            ("lavender", (196, 176, 232)),
            ("blush pink", (246, 188, 200)),
            ("baby blue", (170, 208, 242)),
            ("mint", (180, 234, 206)),
        ),
        _p(
            "autumn",
            ("warm colors", "autumn colors"),
            ("burgundy", (112, 14, 36)),
            ("burnt orange", (204, 86, 10)),
            ("mustard", (222, 170, 20)),
            ("rust", (168, 62, 20)),
            ("cream", (242, 230, 206)),
        ),
        _p(
            "desert",
            ("earth tones",),
            ("beige", (232, 214, 178)),
            ("terracotta", (196, 90, 58)),
            ("ochre", (204, 136, 40)),
            ("sienna", (140, 70, 36)),
        ),
        _p(
            "candy",
            ("vibrant colors",),
            ("white", (250, 250, 250)),
            ("magenta", (228, 0, 124)),
            ("cyan", (0, 184, 230)),
            ("yellow", (255, 218, 0)),
        ),
        _p(
            "forest",
            ("green tones",),
            ("cream", (244, 238, 220)),
            ("forest green", (30, 84, 50)),
            ("sage green", (150, 176, 130)),
            ("olive green", (110, 116, 40)),
            ("brown", (96, 62, 34)),
        ),
        _p(
            "ice",
            ("cool colors",),
            ("white", (248, 250, 252)),
            ("ice blue", (196, 226, 244)),
            ("sky blue", (110, 176, 226)),
            ("slate gray", (100, 116, 136)),
            ("navy", (20, 34, 80)),
        ),
        _p(
            "dusk",
            ("muted colors",),
            ("peach", (252, 200, 160)),
            ("dusty rose", (204, 138, 146)),
            ("mauve", (160, 112, 150)),
            ("indigo", (56, 40, 104)),
        ),
        _p(
            "night_gold",
            (),
            ("navy", (16, 24, 60)),
            ("gold", (218, 172, 60)),
            ("ivory", (246, 240, 222)),
        ),
        _p(
            "memphis",
            ("bright colors",),
            ("cream", (250, 242, 226)),
            ("hot pink", (255, 64, 150)),
            ("turquoise", (40, 200, 190)),
            ("yellow", (255, 208, 20)),
            ("black", (20, 20, 20)),
        ),
        _p(
            "ember",
            ("warm colors",),
            ("black", (10, 6, 6)),
            ("crimson", (178, 20, 40)),
            ("burnt orange", (214, 90, 16)),
            ("amber", (255, 190, 40)),
        ),
        _p(
            "sepia",
            ("muted colors",),
            ("ivory", (244, 236, 216)),
            ("beige", (214, 190, 150)),
            ("sepia", (124, 80, 36)),
            ("brown", (68, 42, 22)),
        ),
        _p(
            "storm",
            ("muted colors",),
            ("slate gray", (92, 104, 118)),
            ("charcoal", (54, 56, 62)),
            ("navy", (24, 30, 52)),
            ("black", (10, 10, 12)),
        ),
        # Two colours only: the checkerboard shows no more, and "limited palette" must stay true.
        _p("duo", ("limited palette",), ("indigo", (48, 34, 112)), ("peach", (252, 204, 164))),
    )
}


# --------------------------------------------------------------------------------------------------
# Drawing helpers. Shapes are drawn at twice the size and scaled down, which anti-aliases hard edges.

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


# --------------------------------------------------------------------------------------------------
# Patterns. Each draws with every colour of the palette it is given, so colour tags stay true.

Renderer = Callable[[np.random.Generator, Palette, int], Image.Image]


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


def _pixels(rng: np.random.Generator, pal: Palette, size: int) -> Image.Image:
    cells = 32
    field = _noise(rng, cells, octaves=3, base=2)
    order = np.argsort(pal.all_rgb().sum(axis=1))
    index = order[np.minimum((field * len(pal)).astype(np.int64), len(pal) - 1)]
    small = _to_image(pal.all_rgb()[index])
    return small.resize((size, size), Image.Resampling.NEAREST)


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


# --------------------------------------------------------------------------------------------------
# Recipes: a pattern, a palette and finishing touches, with the tags each part guarantees.


@dataclass(frozen=True)
class Pattern:
    key: str
    draw: Renderer
    tags: tuple[str, ...]
    description: str  # "{colours}" is replaced by the palette's colour names
    # Which palettes the drawing keeps its tags with. How many colours it can show: with more, some
    # colour tags would be false; with fewer, a role (ground, accents) would be missing. `ground`:
    # "light" for drawings that lay ink on paper (their colours vanish on a dark ground), "dark" for
    # light that glows (it does not glow on a light one). `palettes`, when set, is the only choice.
    min_colours: int = 3
    max_colours: int = 99
    ground: str = "any"
    palettes: tuple[str, ...] = ()

    def fits(self, palette: Palette) -> bool:
        if self.palettes and palette.key not in self.palettes:
            return False
        if not self.min_colours <= len(palette) <= self.max_colours:
            return False
        if self.ground == "light":
            return palette.ground_luminance > 0.75
        if self.ground == "dark":
            return palette.ground_luminance < 0.25
        return True


PATTERNS: dict[str, Pattern] = {
    p.key: p
    for p in (
        Pattern(
            "rings",
            _rings,
            ("concentric circles", "circles", "geometric", "symmetrical", "hard edges"),
            "Concentric rings of {colours} radiating from the centre",
        ),
        Pattern(
            "gradient_glow",
            _gradient_glow,
            ("gradient", "glowing", "soft lighting", "smooth"),
            "A smooth gradient of {colours} with a soft glow of light",
        ),
        Pattern(
            "stripes",
            _stripes,
            ("stripes", "diagonal lines", "geometric", "hard edges"),
            "Bold diagonal stripes of {colours}",
        ),
        Pattern(
            "marble",
            _marble,
            ("marbled", "swirling", "organic shapes", "flowing lines"),
            "Swirling bands of marbled {colours} ink",
        ),
        Pattern(
            "flowing_lines",
            _flowing_lines,
            ("flowing lines", "thin lines", "wavy lines"),
            "Flowing wavy lines of {colours}",
        ),
        Pattern(
            "op_checker",
            _op_checker,
            ("op art", "optical illusion", "checkerboard", "geometric", "symmetrical"),
            "A bulging checkerboard optical illusion in {colours}",
            min_colours=2,
            max_colours=2,
        ),
        Pattern(
            "bokeh",
            _bokeh,
            ("bokeh", "circles", "soft focus", "soft lighting", "translucent"),
            "Soft out-of-focus bokeh circles of {colours}",
        ),
        Pattern(
            "tiles",
            _tiles,
            ("grid", "geometric", "bauhaus", "flat colors", "hard edges"),
            "A busy grid of Bauhaus tiles with circles and triangles in {colours}",
        ),
        Pattern(
            "minimal_sun",
            _minimal_sun,
            ("negative space", "flat colors", "asymmetrical", "circles"),
            "A minimal off-centre sun over a flat horizon in {colours}",
        ),
        Pattern(
            "stained_glass",
            _stained_glass,
            ("stained glass", "mosaic", "outlines"),
            "Stained glass cells of {colours} between dark lead lines",
        ),
        Pattern(
            "mandala",
            _mandala,
            ("mandala", "radial symmetry", "symmetrical", "intricate patterns", "hard edges"),
            "A radially symmetric mandala of {colours}",
        ),
        Pattern(
            "neon_grid",
            _neon_grid,
            ("synthwave", "neon lighting", "glowing", "one-point perspective", "grid", "retro"),
            "A synthwave sunset over a glowing grid in {colours}",
            min_colours=5,
            max_colours=5,
            palettes=("neon",),  # each of its five colours has a role only the neon palette fits
        ),
        Pattern(
            "contours",
            _contours,
            ("contour lines", "topographic", "thin lines", "organic shapes"),
            "Topographic contour lines in {colours}",
        ),
        Pattern(
            "low_poly",
            _low_poly,
            ("low poly", "triangles", "geometric", "gradient", "faceted"),
            "Faceted low-poly triangles shading through {colours}",
        ),
        Pattern(
            "mountains",
            _mountains,
            ("layered", "silhouettes", "atmospheric perspective", "sense of depth", "gradient"),
            "Layered mountain silhouettes fading into the haze in {colours}",
        ),
        Pattern(
            "halftone",
            _halftone,
            ("halftone", "dots", "pop art"),
            "Overlapping halftone dot screens in {colours}",
            ground="light",
        ),
        Pattern(
            "spiral", _spiral, ("spiral", "swirling", "hard edges"), "A hypnotic spiral of {colours} bands", min_colours=2
        ),
        Pattern(
            "colour_field",
            _colour_field,
            ("color field", "color blocking", "soft edges", "abstract"),
            "Soft-edged colour-field blocks of {colours}",
        ),
        Pattern(
            "memphis",
            _memphis,
            ("memphis style", "geometric shapes", "asymmetrical", "flat colors", "outlines"),
            "Memphis-style confetti of shapes and zigzags in {colours}",
        ),
        Pattern(
            "truchet",
            _truchet,
            ("repeating pattern", "intricate patterns", "curved lines", "geometric"),
            "A maze of interlocking arcs in {colours}",
        ),
        Pattern(
            "watercolour",
            _watercolour,
            ("watercolor", "soft edges", "organic shapes", "translucent", "paper texture"),
            "Translucent watercolour washes of {colours} on paper",
        ),
        Pattern("pixels", _pixels, ("pixel art", "hard edges", "mosaic"), "A blocky pixel-art mosaic of {colours}"),
        Pattern(
            "dunes",
            _dunes,
            ("curved lines", "soft lighting", "soft shadows", "gradient"),
            "Softly lit rolling dunes in {colours}",
        ),
        Pattern("plaid", _plaid, ("plaid", "woven texture", "stripes", "grid"), "A woven twill plaid of {colours}"),
        Pattern(
            "pointillism",
            _pointillism,
            ("pointillism", "dots", "textured"),
            "Thousands of pointillist dots of {colours} on bare paper",
        ),
        Pattern(
            "sunburst",
            _sunburst,
            ("light rays", "glowing", "gradient"),
            "Rays of light fanning out from a glowing source through {colours}",
        ),
        Pattern(
            "hatching",
            _hatching,
            ("cross hatching", "thin lines", "line art"),
            "Layers of pen cross-hatching in {colours}",
            min_colours=2,
            max_colours=4,  # the paper and three layers of strokes
            ground="light",
        ),
        Pattern(
            "aurora",
            _aurora,
            ("glowing", "soft edges", "layered"),
            "Wavering curtains of light in {colours}",
            ground="dark",
        ),
        Pattern(
            "brushstrokes",
            _brushstrokes,
            ("visible brushstrokes", "loose brushwork", "textured"),
            "Thick, loose brushstrokes of {colours} following a swirling flow",
        ),
    )
}


def _grain(rng: np.random.Generator, image: Image.Image) -> Image.Image:
    rgb = _to_array(image)
    noise = rng.normal(0.0, 0.055, rgb.shape[:2]).astype(np.float32)[..., None]
    return _to_image(rgb + noise)


def _vignette(rng: np.random.Generator, image: Image.Image) -> Image.Image:
    rgb = _to_array(image)
    x, y = _coords(rgb.shape[0])
    fall = 1 - 0.45 * _smoothstep(0.8, 1.5, np.sqrt(x * x + y * y))
    return _to_image(rgb * fall[..., None])


_FINISHES: dict[str, tuple[Callable[[np.random.Generator, Image.Image], Image.Image], tuple[str, ...], str]] = {
    "grain": (_grain, ("grainy texture",), "film grain"),
    "vignette": (_vignette, ("vignette",), "a dark vignette"),
}


@dataclass(frozen=True)
class Recipe:
    pattern: str
    palette: str
    finishes: tuple[str, ...] = ()
    # Tags that hold for this pairing only (e.g. contrast, which depends on the palette); checked in tests.
    extra_tags: tuple[str, ...] = ()

    def tags(self) -> list[str]:
        pattern, palette = PATTERNS[self.pattern], PALETTES[self.palette]
        tags = [*palette.names, *palette.tags, *pattern.tags, *self.extra_tags]
        for finish in self.finishes:
            tags.extend(_FINISHES[finish][1])
        return list(dict.fromkeys(tags))

    def prompt(self) -> str:
        names = PALETTES[self.palette].names
        colours = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        text = PATTERNS[self.pattern].description.format(colours=colours)
        touches = [_FINISHES[f][2] for f in self.finishes]
        return text + (", with " + " and ".join(touches) if touches else "")


# The curated default gallery. The first 24 show every original pattern once, palettes spread so
# warm/cool/pastel/neon/monochrome/earth all appear, minimal and busy, soft and hard, symmetric and
# not alternate. The next 26 add the later patterns (pointillism, light rays, hatching, aurora,
# brushstrokes), give the others a second palette chosen for contrasts a member can react to, and
# carry the mood tags (see MOODS). Tags whose truth depends on the pairing (contrast, "busy",
# "minimalist", "dark palette", moods) are written per recipe, and the tests measure each on the
# pixels. Entries are only ever appended: an image's id is its position, and comments refer to ids.
CURATED: tuple[Recipe, ...] = (
    Recipe("rings", "ocean"),
    Recipe("gradient_glow", "sunset", ("grain",), ("minimalist",)),
    Recipe("stripes", "primaries", (), ("high contrast",)),
    Recipe("marble", "jewel"),
    Recipe("flowing_lines", "ocean", (), ("dark background",)),
    Recipe("op_checker", "ink", (), ("high contrast",)),
    Recipe("bokeh", "pastel", (), ("low contrast",)),
    Recipe("tiles", "autumn", (), ("busy",)),
    Recipe("minimal_sun", "desert", (), ("minimalist",)),
    Recipe("stained_glass", "candy", (), ("busy",)),
    Recipe("mandala", "desert"),
    Recipe("neon_grid", "neon", (), ("dark background",)),
    Recipe("contours", "forest"),
    Recipe("low_poly", "ice"),
    Recipe("mountains", "dusk", ("grain",)),
    Recipe("halftone", "candy"),
    Recipe("spiral", "greyscale", (), ("high contrast",)),
    Recipe("colour_field", "autumn", ("grain",), ("minimalist",)),
    Recipe("memphis", "memphis", (), ("busy",)),
    Recipe("truchet", "night_gold", (), ("dark background", "dark palette")),
    Recipe("watercolour", "pastel", (), ("low contrast",)),
    Recipe("pixels", "forest"),
    Recipe("dunes", "desert", ("grain", "vignette"), ("minimalist",)),
    Recipe("plaid", "autumn"),
    # 25-50
    Recipe("pointillism", "sunset", (), ("busy",)),
    Recipe("sunburst", "ember", (), ("dark palette", "dramatic lighting")),
    Recipe("hatching", "ink", (), ("high contrast",)),
    Recipe("aurora", "neon", (), ("dark background",)),
    Recipe("brushstrokes", "autumn", (), ("busy",)),
    Recipe("gradient_glow", "pastel", (), ("minimalist", "low contrast", "calm", "dreamy")),
    Recipe("spiral", "ink", (), ("high contrast", "hypnotic")),
    Recipe("rings", "candy", (), ("hypnotic",)),
    Recipe("mountains", "storm", ("grain", "vignette"), ("dark palette", "gloomy")),
    Recipe("stripes", "neon", (), ("high contrast", "energetic")),
    Recipe("watercolour", "dusk"),
    Recipe("stained_glass", "jewel", (), ("busy",)),
    Recipe("halftone", "primaries", (), ("busy",)),
    Recipe("low_poly", "sunset"),
    Recipe("contours", "ember", (), ("dark background",)),
    Recipe("marble", "sepia"),
    Recipe("tiles", "primaries", (), ("busy",)),
    Recipe("dunes", "dusk", ("vignette",), ("minimalist",)),
    Recipe("minimal_sun", "pastel", (), ("minimalist", "low contrast", "calm")),
    Recipe("op_checker", "duo", (), ("hypnotic",)),
    Recipe("plaid", "forest"),
    Recipe("truchet", "sunset"),
    Recipe("bokeh", "neon", (), ("dark background",)),
    Recipe("colour_field", "sepia", (), ("minimalist",)),
    Recipe("flowing_lines", "ice"),
    Recipe("pixels", "memphis"),
)

# Mood words are the least objective tags, so the gallery uses them only where the drawing makes
# them true, by these rules (tests/test_gallery.py measures each on the pixels):
#   calm      low luminance contrast, few areas with detail of their own, no vivid colour
#   dreamy    calm, light overall, and glowing (its brightest spots well above the median)
#   hypnotic  high contrast, alternating light and dark at least six times on every way out from
#             the centre (rings, a spiral, a bulging checkerboard)
#   energetic large areas of vivid colour in high contrast, with detail everywhere
#   gloomy    dark (median luminance under 0.3) and desaturated
MOODS = ("calm", "dreamy", "hypnotic", "energetic", "gloomy")

_FINISH_CHOICES: tuple[tuple[str, ...], ...] = ((), ("grain",), ("vignette",))


@lru_cache(maxsize=1)
def _extra_recipes() -> tuple[Recipe, ...]:
    """Recipes for images past the curated list, enough for MAX_COUNT images.

    Every pattern/palette pairing the pattern can draw honestly (`Pattern.fits`) and the curated
    list has not used, in an order fixed by a hash (so it never depends on dict order or the
    machine) and dealt round-robin over the patterns, so a growing gallery keeps its variety;
    pairings come back with film grain, then with a vignette, once the plain ones run out. They
    carry only the tags that pattern, palette and finish guarantee: no contrast or mood tags,
    which would need a per-pairing check.
    """
    used = {(r.pattern, r.palette, r.finishes) for r in CURATED}
    picked: list[Recipe] = []
    for finishes in _FINISH_CHOICES:
        queues = []
        for pattern in PATTERNS.values():
            pairs = [
                key for key, palette in PALETTES.items()
                if pattern.fits(palette) and (pattern.key, key, finishes) not in used
            ]
            pairs.sort(key=lambda key: hashlib.sha256(f"{pattern.key}/{key}/{finishes}".encode()).digest())
            queues.append([Recipe(pattern.key, key, finishes) for key in pairs])
        while any(queues):
            for queue in queues:
                if queue:
                    picked.append(queue.pop(0))
    return tuple(picked)


def recipe_for(index: int) -> Recipe:
    """The recipe of the image at `index` (0-based): the curated list first, then fresh pairings."""
    if not isinstance(index, int) or not 0 <= index < MAX_COUNT:
        raise InvalidArgument(f"image index must be between 0 and {MAX_COUNT - 1}, got {index!r}", argument="index")
    if index < len(CURATED):
        return CURATED[index]
    return _extra_recipes()[index - len(CURATED)]


def render_image(image_id: str, recipe: Recipe, *, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw one gallery image. Deterministic: the random stream is seeded from the id alone."""
    rng = np.random.default_rng(_seed(image_id))
    image = PATTERNS[recipe.pattern].draw(rng, PALETTES[recipe.palette], size)
    for finish in recipe.finishes:
        image = _FINISHES[finish][0](rng, image)
    return image.convert("RGB")
