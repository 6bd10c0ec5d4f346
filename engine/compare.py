"""⚖ Compare: two images of one size side by side in one picture, each under its own label.

The request's render goes on the left, the image it is compared with (`compare_with`, usually the
member's personalised image) on the right, and a white strip above each half names it
(`compare_labels`, by default "plain" and "personalised"), in PIL's default font. Both halves are
pasted pixel for pixel: nothing is scaled, blended or drawn over them. Pure PIL, no torch: the
generator composes in `to_result`, after the GPU part.
"""

from __future__ import annotations

from collections.abc import Sequence

import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
RULE = (200, 200, 200)


def font_size(width: int) -> int:
    """The label's font size for halves `width` px wide: about 1/32 of it (32 px at 1024), at least 10."""
    return max(10, width // 32)


def label_strip_height(width: int) -> int:
    """Height of the label strip above halves `width` px wide: the font size and a margin above and below."""
    size = font_size(width)
    return size + 2 * _margin(size)


def compose(left: PIL.Image.Image, right: PIL.Image.Image, labels: Sequence[str]) -> PIL.Image.Image:
    """One RGB image: `left` and `right` (same size) side by side below a strip with their labels.

    The result is `2 * width` wide and `label_strip_height(width) + height` high; `left` sits at
    (0, strip) and `right` at (width, strip), untouched. A label too wide for its half is cut with
    "...".
    """
    if left.size != right.size:
        raise ValueError(f"the halves must have one size, got {left.size} and {right.size}")
    width, height = left.size
    strip = label_strip_height(width)
    canvas = PIL.Image.new("RGB", (2 * width, strip + height), BACKGROUND)
    canvas.paste(left.convert("RGB"), (0, strip))
    canvas.paste(right.convert("RGB"), (width, strip))
    draw = PIL.ImageDraw.Draw(canvas)
    size = font_size(width)
    font = _default_font(size)
    draw.line([(width, 0), (width, strip - 1)], fill=RULE)  # between the two labels, in the strip only
    for half, label in enumerate(labels[:2]):
        text = _fit(draw, label, font, width - 2 * _margin(size))
        if not text:
            continue
        left_edge, top, right_edge, bottom = draw.textbbox((0, 0), text, font=font)
        x = half * width + (width - (right_edge - left_edge)) // 2 - left_edge
        y = (strip - (bottom - top)) // 2 - top
        draw.text((x, y), text, font=font, fill=INK)
    return canvas


def _margin(size: int) -> int:
    return max(2, size // 3)


def _default_font(size: int):
    """PIL's default font at `size` (its built-in scalable font when FreeType is present, else the bitmap one)."""
    try:
        return PIL.ImageFont.load_default(size=size)
    except (TypeError, OSError):  # an older Pillow or no FreeType: the fixed-size bitmap font
        return PIL.ImageFont.load_default()


def _fit(draw: PIL.ImageDraw.ImageDraw, label: str, font, room: int) -> str:
    """`label` as the font can draw it, cut with "..." until it fits `room` px."""
    text = _drawable(draw, " ".join(str(label).split()), font)
    if draw.textlength(text, font=font) <= room:
        return text
    while text and draw.textlength(text + "...", font=font) > room:
        text = text[:-1]
    return (text.rstrip() + "...") if text else ""


def _drawable(draw: PIL.ImageDraw.ImageDraw, text: str, font) -> str:
    """The bitmap fallback font knows Latin-1 only: other characters become '?'."""
    try:
        draw.textlength(text, font=font)
    except UnicodeEncodeError:
        return text.encode("latin-1", "replace").decode("latin-1")
    return text
