"""The onboarding gallery: generated once, stable, honest about what each image shows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from viper import gallery as gallery_module
from viper.errors import InvalidArgument, ViperError
from viper.gallery import (
    IMAGE_SIZE,
    MANIFEST_NAME,
    PALETTES,
    Gallery,
    ensure_gallery,
    load_gallery,
    recipe_for,
    render_image,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Gallery:
    """The default 24-image gallery, drawn once for the module; tests that modify it copy it first."""
    return ensure_gallery(tmp_path_factory.mktemp("gallery"))


@pytest.fixture
def copy(generated, tmp_path) -> Path:
    target = tmp_path / "gallery"
    shutil.copytree(generated.directory, target)
    return target


def test_creates_count_images_and_a_manifest(generated):
    assert len(generated) == 24
    assert [image.id for image in generated.images] == [f"g{i:02d}" for i in range(1, 25)]
    manifest = json.loads((generated.directory / MANIFEST_NAME).read_text())
    assert [entry["id"] for entry in manifest] == [image.id for image in generated.images]
    for entry, image in zip(manifest, generated.images):
        assert set(entry) == {"id", "file", "prompt", "tags"}
        assert not Path(entry["file"]).is_absolute() and image.path == (generated.directory / entry["file"]).resolve()
        assert image.prompt and len(image.prompt) < 160
        assert len(image.tags) >= 4 and len(set(image.tags)) == len(image.tags)
        with Image.open(image.path) as picture:
            assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == (IMAGE_SIZE, IMAGE_SIZE)


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
    original = (copy / "g05.png").read_bytes()
    untouched = (copy / "g06.png").stat().st_mtime_ns
    (copy / "g05.png").unlink()
    (copy / MANIFEST_NAME).unlink()
    ensure_gallery(copy)
    assert (copy / "g05.png").read_bytes() == original  # deterministic per id
    assert (copy / "g06.png").stat().st_mtime_ns == untouched
    assert (copy / MANIFEST_NAME).is_file()


def test_rendering_is_deterministic():
    for index in (0, 10, 30):
        image_id = f"g{index + 1:02d}"
        first = gallery_module._png_bytes(render_image(image_id, recipe_for(index)))
        second = gallery_module._png_bytes(render_image(image_id, recipe_for(index)))
        assert first == second


def test_growing_the_gallery_keeps_existing_images(copy):
    before = (copy / "g24.png").read_bytes()
    bigger = ensure_gallery(copy, count=26)
    assert len(bigger) == 26 and bigger.get("g26") is not None
    assert (copy / "g24.png").read_bytes() == before


def test_gallery_is_varied(generated):
    tags = {tag for image in generated.images for tag in image.tags}
    for family in ("warm colors", "cool colors", "pastel colors", "neon colors", "earth tones", "jewel tones"):
        assert family in tags, family
    assert {"monochrome", "black and white"} <= tags
    for pair in (
        ("minimalist", "busy"),
        ("symmetrical", "asymmetrical"),
        ("soft lighting", "hard edges"),
        ("high contrast", "low contrast"),
        ("geometric", "organic shapes"),
    ):
        assert set(pair) <= tags, pair
    assert len({recipe_for(i).pattern for i in range(24)}) == 24
    assert len({recipe_for(i).palette for i in range(24)}) >= 12


# --- tags are true by construction ----------------------------------------------------------------


def _rgb(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _check_tags_hold(rgb: np.ndarray, tags: list[str], palette_key: str, label: str) -> None:
    small = rgb[::2, ::2].reshape(-1, 3)
    palette = dict(PALETTES[palette_key].colours)
    for name, value in palette.items():
        assert name in tags, (label, name)
        distance = np.linalg.norm(small - np.array(value, dtype=np.float32) / 255.0, axis=1)
        share = float((distance < 0.16).mean())
        assert share > 0.002, f"{label}: tagged {name!r} but only {share:.2%} of pixels are close to it"
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    if "high contrast" in tags:
        assert luminance.std() > 0.25, (label, luminance.std())
    if "low contrast" in tags:
        assert luminance.std() < 0.15, (label, luminance.std())
    if {"monochrome", "black and white"} & set(tags):
        assert float((rgb.max(axis=2) - rgb.min(axis=2)).mean()) < 0.03, label
    if "dark background" in tags:
        assert float(np.median(luminance)) < 0.3, label
    mirrored = np.abs(rgb - rgb[:, ::-1]).mean()
    rotated = np.abs(rgb - rgb[::-1, ::-1]).mean()
    if "symmetrical" in tags:
        assert min(mirrored, rotated) < 0.02, (label, mirrored, rotated)
    if "asymmetrical" in tags:
        assert min(mirrored, rotated) > 0.05, (label, mirrored, rotated)
    if "grainy texture" in tags:
        assert np.abs(np.diff(luminance, axis=1)).mean() > 0.03, label


def test_tags_hold_for_the_default_gallery(generated):
    for index, image in enumerate(generated.images):
        with Image.open(image.path) as picture:
            _check_tags_hold(_rgb(picture), image.tags, recipe_for(index).palette, image.id)


def test_tags_hold_beyond_the_curated_set():
    for index in range(24, 30):
        recipe = recipe_for(index)
        _check_tags_hold(
            _rgb(render_image(f"g{index + 1:02d}", recipe)), recipe.tags(), recipe.palette, f"g{index + 1}"
        )


# --- browsing -------------------------------------------------------------------------------------


def test_get_and_page(generated):
    assert generated.get("g01").id == "g01" and generated.get("nope") is None
    assert [i.id for i in generated.page(0, 10)] == [f"g{i:02d}" for i in range(1, 11)]
    assert [i.id for i in generated.page(2, 10)] == ["g21", "g22", "g23", "g24"]
    assert generated.page(3, 10) == []
    assert generated.page_count(10) == 3 and generated.page_count(24) == 1
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


# --- an operator's own folder ---------------------------------------------------------------------


def _operator_folder(tmp_path: Path, manifest) -> Path:
    folder = tmp_path / "art"
    (folder / "pics").mkdir(parents=True)
    Image.new("RGB", (32, 32), "teal").save(folder / "pics" / "sea.png")
    Image.new("RGB", (32, 32), "gold").save(folder / "pics" / "sun.jpg")
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (folder / MANIFEST_NAME).write_text(text)
    return folder


def test_loads_an_operator_gallery(tmp_path):
    folder = _operator_folder(
        tmp_path,
        {
            "images": [
                {"id": "sea", "file": "pics/sea.png", "prompt": "a teal sea", "tags": ["teal", " calm ", "teal"]},
                {"id": "sun", "file": "pics/sun.jpg"},
            ]
        },
    )
    gallery = load_gallery(folder)
    assert [i.id for i in gallery] == ["sea", "sun"]
    assert gallery.get("sea").tags == ["teal", "calm"] and gallery.get("sun").tags == []
    assert gallery.get("sun").path == (folder / "pics" / "sun.jpg").resolve()


@pytest.mark.parametrize(
    "manifest, names",
    [
        ('[{"id": "sea", "file": "pics/sea.png",}', ["manifest.json", "line 1"]),
        ({"id": "sea"}, ["manifest.json", "list"]),
        ([], ["manifest.json", "no images"]),
        ([{"id": "sea"}], ["entry 0", "file"]),
        ([{"id": "sea", "file": "pics/missing.png", "tags": []}], ["pics/missing.png", "not found"]),
        ([{"id": "sea", "file": "pics/sea.png"}, {"id": "sea", "file": "pics/sun.jpg"}], ["entry 1", "duplicate"]),
        ([{"id": "up", "file": "../secret.png"}], ["outside"]),
        ([{"id": "sea", "file": "pics/sea.png", "tags": "teal"}], ["entry 0", "tags"]),
        ([{"id": "has space", "file": "pics/sea.png"}], ["entry 0", "id"]),
    ],
)
def test_broken_manifest_raises_a_clear_error(tmp_path, manifest, names):
    folder = _operator_folder(tmp_path, manifest)
    (tmp_path / "secret.png").write_bytes(b"x")
    with pytest.raises(ViperError) as info:
        load_gallery(folder)
    assert type(info.value) is ViperError
    for name in names:
        assert name in info.value.message, (name, info.value.message)


def test_missing_manifest_names_the_file(tmp_path):
    with pytest.raises(ViperError) as info:
        load_gallery(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / MANIFEST_NAME) in info.value.message


def test_gallery_does_not_import_torch():
    code = "import sys, viper.gallery; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_an_upgrade_that_changes_the_drawings_redraws_them(copy, monkeypatch):
    stale = copy / "g03.png"
    stale.write_bytes(gallery_module._png_bytes(Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), "white")))
    ensure_gallery(copy)
    assert _extrema(stale) == ((255, 255),) * 3  # same version: existing files are trusted
    monkeypatch.setattr(gallery_module, "GENERATOR_VERSION", gallery_module.GENERATOR_VERSION + 1)
    ensure_gallery(copy)
    assert _extrema(stale) != ((255, 255),) * 3
    assert (copy / ".generator-version").read_text().strip() == str(gallery_module.GENERATOR_VERSION)


def _extrema(path: Path):
    with Image.open(path) as picture:
        return picture.getextrema()
