"""The onboarding gallery: generated once, stable, honest about what each image shows."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import engine.art as gallery_module
from engine.art import (
    CURATED,
    DEFAULT_COUNT,
    IMAGE_SIZE,
    MANIFEST_NAME,
    MAX_COUNT,
    MOODS,
    PALETTES,
    PATTERNS,
    Gallery,
    Recipe,
    ensure_gallery,
    recipe_for,
    render_image,
)
from viper.contracts.errors import InvalidArgument

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Gallery:
    """The default gallery, drawn once for the module; tests that modify it copy it first."""
    return ensure_gallery(tmp_path_factory.mktemp("gallery"))


@pytest.fixture
def copy(generated, tmp_path) -> Path:
    target = tmp_path / "gallery"
    shutil.copytree(generated.directory, target)
    return target


def test_creates_count_images_and_a_manifest(generated):
    assert DEFAULT_COUNT == 50 and len(generated) == 50
    assert [image.id for image in generated.images] == [f"g{i:02d}" for i in range(1, 51)]
    manifest = json.loads((generated.directory / MANIFEST_NAME).read_text())
    assert [entry["id"] for entry in manifest] == [image.id for image in generated.images]
    for entry, image in zip(manifest, generated.images):
        assert set(entry) == {"id", "file", "prompt", "tags"}
        assert not Path(entry["file"]).is_absolute() and image.path == (generated.directory / entry["file"]).resolve()
        assert image.prompt and len(image.prompt) < 160
        assert len(image.tags) >= 4 and len(set(image.tags)) == len(image.tags)
        with Image.open(image.path) as picture:
            assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == (IMAGE_SIZE, IMAGE_SIZE)
    assert generated.header == {}


def test_second_call_is_idempotent(generated):
    files = sorted(generated.directory.iterdir())
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    again = ensure_gallery(generated.directory)
    assert [(i.id, i.path, i.prompt, i.tags) for i in again.images] == [
        (i.id, i.path, i.prompt, i.tags) for i in generated.images
    ]
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(generated.directory.iterdir())}
    assert after == before  # nothing rewritten, no temporary files left behind


def test_only_missing_files_are_drawn_and_they_come_back_identical(copy):
    original = (copy / "g45.png").read_bytes()
    untouched = (copy / "g06.png").stat().st_mtime_ns
    (copy / "g45.png").unlink()
    (copy / MANIFEST_NAME).unlink()
    ensure_gallery(copy)
    assert (copy / "g45.png").read_bytes() == original  # deterministic per id
    assert (copy / "g06.png").stat().st_mtime_ns == untouched
    assert (copy / MANIFEST_NAME).is_file()


def test_rendering_is_deterministic():
    for index in (0, 10, 30, 49, 60):
        image_id = f"g{index + 1:02d}"
        first = gallery_module._png_bytes(render_image(image_id, recipe_for(index)))
        second = gallery_module._png_bytes(render_image(image_id, recipe_for(index)))
        assert first == second


def test_a_version_bump_keeps_unchanged_recipes_byte_identical(monkeypatch):
    """The seeds do not depend on the version, so a redraw after an upgrade that left a recipe alone
    gives members back the very picture they commented on."""
    before = gallery_module._png_bytes(render_image("g01", recipe_for(0)))
    monkeypatch.setattr(gallery_module, "GENERATOR_VERSION", gallery_module.GENERATOR_VERSION + 1)
    assert gallery_module._png_bytes(render_image("g01", recipe_for(0))) == before


def test_growing_the_gallery_keeps_existing_images(copy):
    before = (copy / "g50.png").read_bytes()
    bigger = ensure_gallery(copy, count=52)
    assert len(bigger) == 52 and bigger.get("g52") is not None
    assert (copy / "g50.png").read_bytes() == before


def test_all_fifty_are_distinct(generated):
    recipes = [recipe_for(i) for i in range(50)]
    assert len({(r.pattern, r.palette, r.finishes) for r in recipes}) == 50
    assert len({image.prompt for image in generated.images}) == 50
    assert len({hashlib.sha256(image.path.read_bytes()).digest() for image in generated.images}) == 50
    # Not near-duplicates either: every pair differs clearly at thumbnail scale.
    thumbs = []
    for image in generated.images:
        with Image.open(image.path) as picture:
            thumbs.append(np.asarray(picture.convert("RGB").resize((24, 24), Image.Resampling.BOX), dtype=np.float32))
    stack = np.stack(thumbs) / 255.0
    distance = np.abs(stack[:, None] - stack[None]).mean(axis=(2, 3, 4))
    np.fill_diagonal(distance, 1.0)
    assert distance.min() > 0.05, np.unravel_index(distance.argmin(), distance.shape)


def test_gallery_is_varied(generated):
    tags = {tag for image in generated.images for tag in image.tags}
    for family in ("warm colors", "cool colors", "pastel colors", "neon colors", "earth tones", "jewel tones"):
        assert family in tags, family
    assert {"monochrome", "black and white", "muted colors", "limited palette", "dark palette"} <= tags
    for pair in (
        ("minimalist", "busy"),
        ("symmetrical", "asymmetrical"),
        ("soft lighting", "hard edges"),
        ("high contrast", "low contrast"),
        ("geometric", "organic shapes"),
        ("soft edges", "hard edges"),
    ):
        assert set(pair) <= tags, pair
    assert set(MOODS) <= tags
    assert {recipe_for(i).pattern for i in range(50)} == set(PATTERNS)  # every pattern shows up
    assert len({recipe_for(i).palette for i in range(50)}) >= 16


# --- tags are true by construction ----------------------------------------------------------------

_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


class Measures:
    """What a viewer would notice in one image, measured; each measure is computed once, on demand."""

    def __init__(self, image: Image.Image):
        self.image = image.convert("RGB")
        self.rgb = np.asarray(self.image, dtype=np.float32) / 255.0
        self.lum = self.rgb @ _LUMA

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.lum, q))

    @cached_property
    def contrast(self) -> float:
        return float(self.lum.std())

    @cached_property
    def saturation(self) -> np.ndarray:
        top = self.rgb.max(axis=2)
        return (top - self.rgb.min(axis=2)) / np.maximum(top, 1e-6)

    @cached_property
    def vivid_share(self) -> float:
        """Share of pixels in a strong, light colour (saturation over 0.7, brightest channel over 0.55)."""
        return float(((self.saturation > 0.7) & (self.rgb.max(axis=2) > 0.55)).mean())

    @cached_property
    def warmth(self) -> float:
        """Red minus blue, weighted by saturation: which way the coloured parts lean (greys count for nothing)."""
        weight = self.saturation
        return float(((self.rgb[..., 0] - self.rgb[..., 2]) * weight).sum() / max(float(weight.sum()), 1e-6))

    @cached_property
    def busyness(self) -> float:
        """Share of 32x32-pixel blocks with structure of their own: a spread of colour above 30% of the
        whole image's, so that a quiet palette does not hide a busy layout."""
        n = 128
        small = np.asarray(self.image.resize((n, n), Image.Resampling.BOX), dtype=np.float32) / 255.0
        blocks = small.reshape(16, n // 16, 16, n // 16, 3).std(axis=(1, 3)).mean(axis=-1)
        whole = float(small.std(axis=(0, 1)).mean())
        return float((blocks > max(0.015, 0.3 * whole)).mean())

    @cached_property
    def edge_sharpness(self) -> float:
        """How much of a big colour change happens within one pixel: near 1 for hard edges, near 1/3
        for soft ones. Grain is filtered out first, and the centre left out, where some patterns
        crowd many edges into a few pixels."""
        rgb = np.asarray(self.image.filter(ImageFilter.MedianFilter(5)), dtype=np.float32) / 255.0
        n = rgb.shape[0]
        yy, xx = np.mgrid[0:n, 0:n]
        outer = np.hypot(yy - n / 2, xx - n / 2) > 0.3 * n

        def steps(k: int) -> np.ndarray:
            across = np.abs(rgb[:, k:] - rgb[:, :-k]).max(axis=2)[:, : n - 3][outer[:, : n - 3]]
            down = np.abs(rgb[k:] - rgb[:-k]).max(axis=2)[: n - 3][outer[: n - 3]]
            return np.concatenate([across, down])

        return float(np.quantile(steps(1), 0.999) / max(float(np.quantile(steps(3), 0.999)), 1e-6))

    @cached_property
    def thumbnail(self) -> np.ndarray:
        """64x64 averages: grain cancels out, composition stays."""
        return np.asarray(self.image.resize((64, 64), Image.Resampling.BOX), dtype=np.float32) / 255.0

    @cached_property
    def asymmetry(self) -> float:
        """Share of pixels that differ visibly from both the mirror image and the half-turned one."""
        mirrored = np.abs(self.rgb - self.rgb[:, ::-1]).max(axis=2) > 0.04
        turned = np.abs(self.rgb - self.rgb[::-1, ::-1]).max(axis=2) > 0.04
        return float(min(mirrored.mean(), turned.mean()))

    @cached_property
    def symmetry_error(self) -> float:
        t = self.thumbnail
        return float(min(np.abs(t - t[:, ::-1]).mean(), np.abs(t - t[::-1, ::-1]).mean()))

    @cached_property
    def fewest_crossings_from_centre(self) -> int:
        """Fewest light/dark alternations met walking from the centre to any of the four edges."""
        h = self.lum.shape[0] // 2
        median = np.median(self.lum)
        rays = [self.lum[h, h:], self.lum[h, :h][::-1], self.lum[h:, h], self.lum[:h, h][::-1]]
        return min(int((np.diff(np.sign(ray - median)) != 0).sum()) for ray in rays)

    @property
    def glowing(self) -> bool:
        return self.quantile(0.99) - self.quantile(0.5) > 0.12

    @property
    def calm(self) -> bool:
        return self.contrast < 0.15 and self.busyness < 0.2 and self.vivid_share < 0.03


# Each rule is what the tag promises a viewer; MOODS in viper/gallery.py states the mood rules in words.
CHECKS = {
    "high contrast": lambda m: m.contrast > 0.25,
    "low contrast": lambda m: m.contrast < 0.15,
    "dark background": lambda m: m.quantile(0.5) < 0.3,
    "dark palette": lambda m: m.lum.mean() < 0.4,
    "busy": lambda m: m.busyness > 0.5,
    "minimalist": lambda m: m.busyness < 0.4,
    "hard edges": lambda m: m.edge_sharpness > 0.65,
    "soft edges": lambda m: m.edge_sharpness < 0.6,
    "soft focus": lambda m: m.edge_sharpness < 0.6,
    "warm colors": lambda m: m.warmth > 0.1,
    "cool colors": lambda m: m.warmth < -0.1,
    "pastel colors": lambda m: m.lum.mean() > 0.7 and m.saturation.mean() < 0.3,
    "neon colors": lambda m: m.vivid_share > 0.03,
    "vibrant colors": lambda m: m.vivid_share > 0.03,
    "bold colors": lambda m: m.vivid_share > 0.03,
    "bright colors": lambda m: m.vivid_share > 0.03,
    "muted colors": lambda m: m.vivid_share < 0.03,
    "monochrome": lambda m: float((m.rgb.max(axis=2) - m.rgb.min(axis=2)).mean()) < 0.03,
    "black and white": lambda m: float((m.rgb.max(axis=2) - m.rgb.min(axis=2)).mean()) < 0.03,
    "symmetrical": lambda m: m.symmetry_error < 0.02,
    "asymmetrical": lambda m: m.asymmetry > 0.1,
    "grainy texture": lambda m: np.abs(np.diff(m.lum, axis=1)).mean() > 0.03,
    "glowing": lambda m: m.glowing,
    "dramatic lighting": lambda m: m.quantile(0.99) > 0.7 and m.quantile(0.1) < 0.2,
    "calm": lambda m: m.calm,
    "dreamy": lambda m: m.calm and m.lum.mean() > 0.7 and m.glowing,
    "hypnotic": lambda m: m.contrast > 0.25 and m.fewest_crossings_from_centre >= 6,
    "energetic": lambda m: m.vivid_share > 0.2 and m.contrast > 0.25 and m.busyness > 0.5,
    "gloomy": lambda m: m.quantile(0.5) < 0.3 and m.saturation.mean() < 0.35,
}


def _check_tags_hold(image_id: str, recipe: Recipe, image: Image.Image) -> None:
    m = Measures(image)
    tags = recipe.tags()
    palette = PALETTES[recipe.palette]
    small = m.rgb[::2, ::2].reshape(-1, 3)
    for name, value in palette.colours:  # every colour named is there, in a visible amount
        assert name in tags, (image_id, name)
        distance = np.linalg.norm(small - np.array(value, dtype=np.float32) / 255.0, axis=1)
        share = float((distance < 0.16).mean())
        assert share > 0.002, f"{image_id}: tagged {name!r} but only {share:.2%} of pixels are close to it"
    if "limited palette" in tags:
        clean = np.asarray(m.image.filter(ImageFilter.MedianFilter(3)), dtype=np.float32)[::2, ::2] / 255.0
        colours = palette.all_rgb()
        near = np.linalg.norm(clean.reshape(-1, 1, 3) - colours[None], axis=2).min(axis=1) < 0.2
        assert len(colours) <= 3 and near.mean() > 0.95, (image_id, near.mean())
    if "vignette" in tags:  # the corners are darker than the same picture drawn without it
        plain = Recipe(recipe.pattern, recipe.palette, tuple(f for f in recipe.finishes if f != "vignette"))
        bare = np.asarray(render_image(image_id, plain).convert("L"), dtype=np.float32)
        lit = np.asarray(m.image.convert("L"), dtype=np.float32)
        c = lit.shape[0] // 8
        corners = [np.s_[:c, :c], np.s_[:c, -c:], np.s_[-c:, :c], np.s_[-c:, -c:]]
        ratio = sum(lit[s].mean() for s in corners) / max(sum(bare[s].mean() for s in corners), 1e-6)
        assert ratio < 0.8, (image_id, ratio)
    failed = [tag for tag in tags if tag in CHECKS and not CHECKS[tag](m)]
    assert not failed, f"{image_id} ({recipe.pattern}, {recipe.palette}): tags not seen in the pixels: {failed}"


def test_tags_hold_for_every_default_image(generated):
    for index, image in enumerate(generated.images):
        with Image.open(image.path) as picture:
            _check_tags_hold(image.id, recipe_for(index), picture.convert("RGB"))


def test_tags_hold_beyond_the_curated_set():
    """Pairings past the curated 50 carry only pattern, palette and finish tags; a sample is checked
    (all 500 pass too, but take two minutes)."""
    for index in [*range(50, 58), 120, 260, 400, MAX_COUNT - 1]:
        recipe = recipe_for(index)
        image_id = f"g{index + 1:02d}"
        _check_tags_hold(image_id, recipe, render_image(image_id, recipe))


def test_recipes_past_the_curated_list_are_fresh_and_fit_their_palette():
    extras = [recipe_for(i) for i in range(len(CURATED), MAX_COUNT)]
    keys = [(r.pattern, r.palette, r.finishes) for r in extras]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & {(r.pattern, r.palette, r.finishes) for r in CURATED}
    for recipe in extras:
        assert recipe.extra_tags == ()  # pairing-dependent tags only where a test measured them
        assert PATTERNS[recipe.pattern].fits(PALETTES[recipe.palette]), recipe
    first_round = [r.pattern for r in extras[: len(PATTERNS)]]
    assert len(set(first_round)) >= len(PATTERNS) - 2  # dealt round-robin, not one pattern at a time
    with pytest.raises(InvalidArgument):
        recipe_for(MAX_COUNT)


def test_curated_recipes_fit_and_every_checked_tag_has_a_rule():
    for recipe in CURATED:
        assert PATTERNS[recipe.pattern].fits(PALETTES[recipe.palette]), recipe
        for tag in recipe.extra_tags:
            assert tag in CHECKS, f"{tag!r} is a per-pairing tag without a pixel check"
    for tag in MOODS:  # moods never come from a pattern or palette, whose every pairing would need them
        assert all(tag not in p.tags for p in PATTERNS.values()) and all(tag not in p.tags for p in PALETTES.values())
        assert any(tag in r.extra_tags for r in CURATED), tag


def test_every_tag_is_a_word_the_lexicon_knows():
    from engine.extraction import default_lexicon

    lexicon = default_lexicon()
    tags = {tag for i in range(MAX_COUNT) for tag in recipe_for(i).tags()}
    assert sorted(t for t in tags if lexicon.lookup(t) is None) == []


# --- browsing -------------------------------------------------------------------------------------


def test_get_and_page(generated):
    assert generated.get("g01").id == "g01" and generated.get("nope") is None
    assert [i.id for i in generated.page(0, 10)] == [f"g{i:02d}" for i in range(1, 11)]
    assert [i.id for i in generated.page(4, 10)] == [f"g{i:02d}" for i in range(41, 51)]
    assert [i.id for i in generated.page(2, 24)] == ["g49", "g50"]
    assert generated.page(5, 10) == []
    assert generated.page_count(10) == 5 and generated.page_count(24) == 3
    with pytest.raises(InvalidArgument) as info:
        generated.page(0, 0)
    assert info.value.argument == "size"
    with pytest.raises(InvalidArgument):
        generated.page(-1, 5)


def test_count_is_validated(tmp_path):
    for count in (0, -3, 10_000, "24"):
        with pytest.raises(InvalidArgument) as info:
            ensure_gallery(tmp_path, count=count)
        assert info.value.argument == "count"


def test_gallery_does_not_import_torch():
    code = "import sys, engine.art; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_an_upgrade_that_changes_the_drawings_redraws_them(tmp_path, monkeypatch):
    ensure_gallery(tmp_path, count=8)  # a small one: an upgrade redraws every image
    stale = tmp_path / "g03.png"
    stale.write_bytes(gallery_module._png_bytes(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white")))
    ensure_gallery(tmp_path, count=8)
    assert _extrema(stale) == ((255, 255),) * 3  # same version: existing files are trusted
    monkeypatch.setattr(gallery_module, "GENERATOR_VERSION", gallery_module.GENERATOR_VERSION + 1)
    ensure_gallery(tmp_path, count=8)
    assert _extrema(stale) != ((255, 255),) * 3
    assert (tmp_path / ".generator-version").read_text().strip() == str(gallery_module.GENERATOR_VERSION)


def _extrema(path: Path):
    with Image.open(path) as picture:
        return picture.getextrema()
