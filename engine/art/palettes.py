"""Data table: the named palettes of the procedural gallery.

Colours carry names so the tags can name them; colour 0 is the ground the pattern sits on. A
palette's own tags (e.g. "warm colors") hold for every pattern it is paired with.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
