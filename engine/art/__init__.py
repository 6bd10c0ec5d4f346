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

The manifest's shape is documented in storage/gallery.py, beside the loader.

The package: palettes.py (the named colours), canvas.py (drawing helpers), geometric.py, fields.py
and marks.py (the painters, by family), patterns.py (patterns and finishes with their tags),
recipes.py (the curated list, the moods and the pairings past it) and, here, the drawing of a
folder.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from engine.art.palettes import PALETTES
from engine.art.patterns import _FINISHES, PATTERNS
from engine.art.recipes import CURATED, MAX_COUNT, MOODS, Recipe, recipe_for
from storage.gallery import ID_PATTERN, MANIFEST_NAME, Gallery, GalleryImage, load_gallery, write_atomic
from viper.contracts.errors import InvalidArgument, ViperError

__all__ = [
    "CURATED",
    "DEFAULT_COUNT",
    "GENERATOR_VERSION",
    "ID_PATTERN",
    "IMAGE_SIZE",
    "MANIFEST_NAME",
    "MAX_COUNT",
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


def render_image(image_id: str, recipe: Recipe, *, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw one gallery image. Deterministic: the random stream is seeded from the id alone."""
    rng = np.random.default_rng(_seed(image_id))
    image = PATTERNS[recipe.pattern].draw(rng, PALETTES[recipe.palette], size)
    for finish in recipe.finishes:
        image = _FINISHES[finish][0](rng, image)
    return image.convert("RGB")
