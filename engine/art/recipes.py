"""Recipes: a pattern, a palette and finishing touches, with the tags and the prompt they make.

The curated list is the default gallery; past it, `recipe_for` deals fresh pairings that carry only
the tags their parts guarantee. Mood words follow the rules written beside `MOODS`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from engine.art.palettes import PALETTES
from engine.art.patterns import _FINISHES, PATTERNS
from viper.contracts.errors import InvalidArgument

# How many images the recipes can supply: the curated ones, then fresh pairings.
MAX_COUNT = 500


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
