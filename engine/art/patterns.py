"""Patterns and finishes: what can be drawn, with the tags each guarantees.

A pattern's tags hold for every palette it accepts (`Pattern.fits`); a finish (film grain, a
vignette) is applied over any pattern and adds its own tag.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.art.canvas import _coords, _smoothstep, _to_array, _to_image
from engine.art.fields import (
    _aurora,
    _bokeh,
    _colour_field,
    _contours,
    _dunes,
    _gradient_glow,
    _marble,
    _mountains,
    _neon_grid,
    _sunburst,
    _watercolour,
)
from engine.art.geometric import (
    _low_poly,
    _mandala,
    _memphis,
    _minimal_sun,
    _op_checker,
    _pixels,
    _plaid,
    _rings,
    _spiral,
    _stained_glass,
    _stripes,
    _tiles,
    _truchet,
)
from engine.art.marks import _brushstrokes, _flowing_lines, _halftone, _hatching, _pointillism
from engine.art.palettes import Palette


Renderer = Callable[[np.random.Generator, Palette, int], Image.Image]


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
