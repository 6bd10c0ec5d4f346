"""`viper gallery build`: the curated prompt list, and a resumable render with the tiny model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.gallery_build import (
    MADE_BY,
    GalleryMismatch,
    GalleryPrompt,
    build_gallery,
    format_duration,
    image_seed,
    load_prompts,
)
from viper.contracts.errors import InvalidArgument, ViperError
from engine.art import MANIFEST_NAME, ensure_gallery, load_gallery

ROOT = Path(__file__).resolve().parents[1]


class Counting:
    """The real generator, with a record of the prompts it was asked to render.

    `interrupt_at=n` raises KeyboardInterrupt on the n-th call, before rendering: what an operator's
    Ctrl-C or a crash does to a build in the middle of an image.
    """

    def __init__(self, inner, interrupt_at: int | None = None):
        self.inner = inner
        self.calls: list[str] = []
        self.interrupt_at = interrupt_at

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, request, **kwargs):
        self.calls.append(request.prompt)
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        return self.inner.generate(request, **kwargs)


@pytest.fixture(scope="module")
def prompts() -> list[GalleryPrompt]:
    return load_prompts()


@pytest.fixture
def generator(tiny_models):
    return Counting(tiny_models["generator"])


TINY = dict(steps=1, size=64)


# --- the curated list -----------------------------------------------------------------------------


def test_the_curated_list_is_broad_and_tagged_with_known_words(prompts):
    from engine.extraction import default_lexicon

    lexicon = default_lexicon()
    assert len(prompts) >= 50
    assert len({p.id for p in prompts}) == len(prompts) and len({p.text for p in prompts}) == len(prompts)
    # Our ids never look like the procedural gallery's (g01...): members' comments refer to ids,
    # and a switch of galleries must not pair old comments with other pictures.
    assert not [p.id for p in prompts if re.fullmatch(r"g\d+", p.id)]
    categories: dict[str, set[str]] = {}
    for prompt in prompts:
        assert len(prompt.tags) >= 4, prompt.id
        unknown = [t for t in prompt.tags if lexicon.lookup(t) is None]
        assert not unknown, (prompt.id, unknown)
        for tag in prompt.tags:
            attribute = lexicon.lookup(tag)
            categories.setdefault(attribute.category, set()).add(attribute.name)
        # A rough count of CLIP tokens (words and punctuation): the whole prompt reaches the model.
        assert len(re.findall(r"\w+|[^\w\s]", prompt.text)) <= 70, prompt.id
    names = {name for found in categories.values() for name in found}
    for wanted in (
        "impressionism", "art nouveau", "ukiyo e", "pixel art", "baroque", "minimalist", "cyberpunk",
        "watercolor", "charcoal drawing", "impasto", "low poly", "photography",
        "pastel colors", "neon colors", "monochrome", "earth tones", "warm colors",
        "calm", "eerie", "joyful", "energetic", "symmetrical", "negative space", "busy",
    ):
        assert wanted in names, wanted
    text = " ".join(p.text for p in prompts)
    assert "film noir" in text and "long exposure" in text
    assert len(names) >= 150  # breadth: many distinct attributes, not the same few repeated
    assert len(categories) >= 8


@pytest.mark.parametrize(
    "content, words",
    [
        ("[[prompt]\nid = 'x'", ["not valid TOML"]),
        ("title = 'no prompts'", ["no [[prompt]] entries"]),
        ("[[prompt]]\nid = 'a b'\ntext = 'x'", ["entry 1", "'id'"]),
        ("[[prompt]]\nid = 'a'\ntext = 'x'\n[[prompt]]\nid = 'a'\ntext = 'y'", ["entry 2", "duplicate"]),
        ("[[prompt]]\nid = 'a'\ntext = ''", ["entry 1 (a)", "'text'"]),
        ("[[prompt]]\nid = 'a'\ntext = 'x'\ntags = 'teal'", ["(a)", "'tags'"]),
        ("[[prompt]]\nid = 'a'\ntext = 'x'\nnegative = 'y'", ["unknown key", "negative"]),
    ],
)
def test_a_broken_prompt_list_names_the_file_and_entry(tmp_path, content, words):
    path = tmp_path / "mine.toml"
    path.write_text(content)
    with pytest.raises(ViperError) as info:
        load_prompts(path)
    assert str(path) in info.value.message
    for word in words:
        assert word in info.value.message, (word, info.value.message)


# --- building -------------------------------------------------------------------------------------


def test_build_with_the_tiny_model_writes_a_loadable_gallery(generator, prompts, tmp_path):
    events = []
    gallery = build_gallery(generator, prompts, tmp_path / "out", seed=7, limit=3, on_progress=events.append, **TINY)
    assert [image.id for image in gallery] == [p.id for p in prompts[:3]]
    assert generator.calls == [p.text for p in prompts[:3]]
    reloaded = load_gallery(tmp_path / "out")
    assert [(i.id, i.prompt, i.tags) for i in reloaded] == [(p.id, p.text, list(p.tags)) for p in prompts[:3]]
    for image in reloaded:
        with Image.open(image.path) as picture:
            assert picture.format == "PNG" and picture.size == (64, 64)
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert manifest["generator"] == {
        "made_by": MADE_BY, "model": "tiny", "refiner": False, "tiny": True,
        "width": 64, "height": 64, "steps": 1, "guidance": 5.0, "seed": 7,
    }
    assert manifest["total"] == 3 and manifest["complete"] is True
    assert [e["seed"] for e in manifest["images"]] == [image_seed(7, p.id) for p in prompts[:3]]
    assert reloaded.header["complete"] is True
    assert [(e.phase, e.index, e.total) for e in events] == [
        ("start", 1, 3), ("done", 1, 3), ("start", 2, 3), ("done", 2, 3), ("start", 3, 3), ("done", 3, 3)
    ]
    assert events[0].eta_seconds is None and events[-1].eta_seconds == 0
    assert events[2].eta_seconds is not None and events[1].seconds > 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_an_interrupted_build_resumes_with_only_the_missing_images(tiny_models, prompts, tmp_path):
    out = tmp_path / "out"
    first = Counting(tiny_models["generator"], interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        build_gallery(first, prompts, out, limit=4, **TINY)
    # Two images were finished: they and only they are listed, and the folder already loads.
    partial = load_gallery(out)
    assert [i.id for i in partial] == [p.id for p in prompts[:2]]
    assert partial.header["complete"] is False and partial.header["total"] == 4
    kept = {i.id: (i.path.stat().st_mtime_ns, i.path.read_bytes()) for i in partial}

    again = Counting(tiny_models["generator"])
    events = []
    gallery = build_gallery(again, prompts, out, limit=4, on_progress=events.append, **TINY)
    assert again.calls == [p.text for p in prompts[2:4]]  # the missing two, nothing else
    assert [e.phase for e in events if e.index <= 2] == ["skip", "skip"]
    assert [i.id for i in gallery] == [p.id for p in prompts[:4]] and gallery.header["complete"] is True
    assert {i.id: (i.path.stat().st_mtime_ns, i.path.read_bytes()) for i in gallery if i.id in kept} == kept

    # A third run has nothing left to do.
    idle = Counting(tiny_models["generator"])
    build_gallery(idle, prompts, out, limit=4, **TINY)
    assert idle.calls == []


def test_an_edited_prompt_is_rendered_again(generator, prompts, tmp_path):
    build_gallery(generator, prompts[:3], tmp_path, **TINY)
    edited = [prompts[0], GalleryPrompt(prompts[1].id, prompts[1].text + ", at night", prompts[1].tags), prompts[2]]
    generator.calls.clear()
    gallery = build_gallery(generator, edited, tmp_path, **TINY)
    assert generator.calls == [edited[1].text]
    assert gallery.get(prompts[1].id).prompt == edited[1].text


def test_a_build_with_other_settings_is_refused_unless_restarted(generator, prompts, tmp_path):
    build_gallery(generator, prompts, tmp_path, limit=2, **TINY)
    before = (tmp_path / MANIFEST_NAME).read_bytes()
    generator.calls.clear()
    with pytest.raises(GalleryMismatch) as info:
        build_gallery(generator, prompts, tmp_path, limit=2, steps=2, size=64)
    assert "steps=1" in info.value.message and "steps=2" in info.value.message and "--restart" in info.value.message
    with pytest.raises(GalleryMismatch) as info:
        build_gallery(generator, prompts, tmp_path, limit=2, seed=5, **TINY)
    assert "seed=0" in info.value.message
    assert generator.calls == [] and (tmp_path / MANIFEST_NAME).read_bytes() == before

    stray = tmp_path / "notes.txt"
    stray.write_text("the operator's own file")
    gallery = build_gallery(generator, prompts, tmp_path, limit=2, steps=2, size=64, restart=True)
    assert len(generator.calls) == 2 and gallery.header["generator"]["steps"] == 2
    assert stray.read_text() == "the operator's own file"  # restart deletes only what a build listed


def test_a_folder_holding_another_gallery_is_never_touched(generator, prompts, tmp_path):
    procedural = ensure_gallery(tmp_path, count=8)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for restart in (False, True):
        with pytest.raises(ViperError) as info:
            build_gallery(generator, prompts, tmp_path, limit=1, restart=restart, **TINY)
        assert "did not make" in info.value.message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before and len(procedural) == 8
    assert generator.calls == []


def test_bad_arguments_fail_before_any_rendering(generator, prompts, tmp_path):
    for kwargs, argument in (
        (dict(size=60), "width"),
        (dict(steps=0), "steps"),
        (dict(limit=0), "limit"),
        (dict(seed=-1), "seed"),
    ):
        with pytest.raises(InvalidArgument) as info:
            build_gallery(generator, prompts, tmp_path / "out", **kwargs)
        assert info.value.argument == argument
    with pytest.raises(InvalidArgument):
        build_gallery(generator, [], tmp_path / "out")
    assert generator.calls == [] and not (tmp_path / "out" / MANIFEST_NAME).exists()


def test_format_duration():
    assert [format_duration(s) for s in (None, 0, 12.4, 185, 3725)] == ["?", "0s", "12s", "3m05s", "1h02m"]


# --- the command ----------------------------------------------------------------------------------


def test_viper_gallery_build_command(tmp_path, monkeypatch, capsys):
    env = dict(
        os.environ,
        VIPER_ENGINE__MODEL="tiny",
        VIPER_STORAGE__DATA_DIR=str(tmp_path / "data"),
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
    )
    run = subprocess.run(
        [sys.executable, "-m", "viper.cli", "gallery", "build", "--limit", "2", "--steps", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr
    out = tmp_path / "data" / "gallery-model"
    first, second = load_prompts()[:2]
    assert re.search(rf"^\[1/2\] {first.id} .+ s, ETA ", run.stdout, re.MULTILINE), run.stdout
    assert re.search(rf"^\[2/2\] {second.id} .+ s, ETA 0s$", run.stdout, re.MULTILINE), run.stdout
    assert f'path = "{out.resolve()}"' in run.stdout
    assert "noise" in run.stderr  # the tiny model says what its pictures are worth
    assert [i.id for i in load_gallery(out)] == [first.id, second.id]

    # Run again, in this process: everything is already there, so nothing is rendered.
    from viper.cli import main

    for key in ("VIPER_ENGINE__MODEL", "VIPER_STORAGE__DATA_DIR"):
        monkeypatch.setenv(key, env[key])
    capsys.readouterr()
    assert main(["gallery", "build", "--limit", "2", "--steps", "1"]) == 0
    shown = capsys.readouterr().out
    assert f"[1/2] {first.id}  already rendered" in shown and f"[2/2] {second.id}  already rendered" in shown
    # Other settings: refused with the reason, and the way out.
    assert main(["gallery", "build", "--limit", "2", "--steps", "2"]) == 1
    assert "--restart" in capsys.readouterr().err


def test_the_build_module_does_not_import_torch():
    """It drives a generator it is handed; the bot process can import it without the engine's weight."""
    code = "import sys, engine.gallery_build; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
