"""An operator's own gallery folder: `load_gallery` reads its manifest, or says which file is at fault."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from storage.gallery import MANIFEST_NAME, load_gallery
from viper.contracts.errors import ViperError


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
    assert gallery.header == {}


def test_reads_the_header_a_model_build_writes(tmp_path, caplog):
    header = {"made_by": "viper gallery build", "model": "tiny", "tiny": True, "steps": 2}
    folder = _operator_folder(
        tmp_path,
        {"generator": header, "total": 5, "complete": False, "images": [{"id": "sea", "file": "pics/sea.png", "seed": 7}]},
    )
    with caplog.at_level(logging.WARNING, logger="viper.gallery"):
        gallery = load_gallery(folder)
    assert len(gallery) == 1 and gallery.header == {"generator": header, "total": 5, "complete": False}
    assert "incomplete: 1 of 5" in caplog.text and "tiny test model" in caplog.text


@pytest.mark.parametrize(
    "manifest, names",
    [
        ('[{"id": "sea", "file": "pics/sea.png",}', ["manifest.json", "line 1"]),
        ({"id": "sea"}, ["manifest.json", "list"]),
        ([], ["manifest.json", "no images"]),
        ({"generator": {}, "images": []}, ["manifest.json", "no images"]),
        ([{"id": "sea"}], ["entry 0", "file"]),
        ([{"id": "sea", "file": "pics/missing.png", "tags": []}], ["pics/missing.png", "not found"]),
        ([{"id": "sea", "file": "pics/sea.png"}, {"id": "sea", "file": "pics/sun.jpg"}], ["entry 1", "duplicate"]),
        ([{"id": "up", "file": "../secret.png"}], ["outside"]),
        ([{"id": "sea", "file": "pics/sea.png", "tags": "teal"}], ["entry 0", "tags"]),
        ([{"id": "has space", "file": "pics/sea.png"}], ["entry 0", "id"]),
        ({"generator": "sdxl", "images": [{"id": "sea", "file": "pics/sea.png"}]}, ["'generator'"]),
        ({"complete": "yes", "images": [{"id": "sea", "file": "pics/sea.png"}]}, ["'complete'"]),
        ({"total": -1, "images": [{"id": "sea", "file": "pics/sea.png"}]}, ["'total'"]),
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
