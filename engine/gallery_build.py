"""`viper gallery build`: render the onboarding gallery with the configured SDXL model.

The procedural gallery (`engine.art`) lets every install onboard members with no GPU; a
deployment with one can show pictures made by the same model that will later personalise for them,
as the method's authors did. The prompts come from a curated list kept in the repository
(`engine/gallery_prompts.toml`), each with the tags it aims to show.

Rendering 50 or more SDXL images takes minutes on a GPU and hours on a CPU, so a build is
resumable: each finished image is written, then recorded in `manifest.json`, both atomically, so
the manifest only ever lists images that exist in full. Running the same build again skips them and
renders the rest. The manifest's header records the model and the settings, so a second run with
other settings does not quietly mix two kinds of pictures in one gallery; it stops and says what
differs, and `restart=True` starts over.

Manifest shape (what `storage.gallery.load_gallery` reads)::

    {"generator": {"made_by": "viper gallery build", "model": ..., "refiner": false, "tiny": false,
                   "width": 1024, "height": 1024, "steps": 40, "guidance": 5.0, "seed": 0},
     "total": 61, "complete": true,
     "images": [{"id": "ukiyoe-wave", "file": "ukiyoe-wave.png", "prompt": ..., "tags": [...],
                 "seed": 1234}, ...]}

This module imports no torch: it drives a `ViperGenerator` it is handed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from viper.contracts.errors import InvalidArgument, ViperError
from storage.gallery import ID_PATTERN, MANIFEST_NAME, Gallery, load_gallery, write_atomic
from viper.contracts.jobs import GenerateRequest

__all__ = [
    "MADE_BY",
    "PROMPTS_FILE",
    "BuildProgress",
    "BuildSettings",
    "GalleryMismatch",
    "GalleryPrompt",
    "build_gallery",
    "format_duration",
    "image_seed",
    "load_prompts",
]

PROMPTS_FILE = Path(__file__).with_name("gallery_prompts.toml")
# Marks a manifest this module wrote; a folder without it is someone else's, never overwritten.
MADE_BY = "viper gallery build"
MAX_PROMPT_CHARS = 600


class GalleryMismatch(ViperError):
    """The output folder holds images made by another model or with other settings."""


@dataclass(frozen=True)
class GalleryPrompt:
    """One entry of the curated list: a stable id, the prompt text, the tags it aims to show."""

    id: str
    text: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildSettings:
    """Everything that decides how the images look, recorded in the manifest header.

    Two runs may add to one gallery only when these are equal; `seed` is the base from which each
    image's own seed is derived (`image_seed`).
    """

    model: str
    refiner: bool
    tiny: bool
    width: int
    height: int
    steps: int
    guidance: float
    seed: int

    def header(self) -> dict:
        return {"made_by": MADE_BY, **asdict(self)}


@dataclass(frozen=True)
class BuildProgress:
    """One event of a build, for a progress display.

    `phase` is "start" (about to render), "done" (rendered and recorded) or "skip" (an earlier run
    rendered it). `index` counts from 1 to `total`. `seconds` is this image's render time ("done"
    only); `eta_seconds` the estimated time left for the images still to render, from the mean of
    those rendered so far in this run (None before the first one finishes).
    """

    phase: str
    index: int
    total: int
    prompt: GalleryPrompt
    seconds: float = 0.0
    eta_seconds: float | None = None


ProgressCallback = Callable[[BuildProgress], None]


# --------------------------------------------------------------------------------------------------
# The prompt list


def load_prompts(path: Path | str | None = None) -> list[GalleryPrompt]:
    """Read a prompt list (default: the curated one in the repository) and check every entry.

    The file is TOML with one `[[prompt]]` table per image: `id`, `text`, `tags`. Errors name the
    file and the entry, since the person fixing them is editing that file.
    """
    path = Path(path) if path is not None else PROMPTS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ViperError(f"gallery prompt list not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ViperError(f"cannot read gallery prompt list {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ViperError(f"gallery prompt list {path} is not valid TOML: {exc}") from exc
    entries = data.get("prompt")
    if not isinstance(entries, list) or not entries:
        raise ViperError(f"gallery prompt list {path} has no [[prompt]] entries")
    prompts: list[GalleryPrompt] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"gallery prompt list {path}, entry {index + 1}"
        if not isinstance(entry, dict):
            raise ViperError(f"{where}: expected a table with id, text and tags")
        unknown = set(entry) - {"id", "text", "tags"}
        if unknown:
            raise ViperError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        image_id, text, tags = entry.get("id"), entry.get("text"), entry.get("tags", [])
        if not isinstance(image_id, str) or not ID_PATTERN.match(image_id):
            raise ViperError(f"{where}: 'id' must be a short string of letters, digits, '-', '_' or '.'")
        if image_id in seen:
            raise ViperError(f"{where}: duplicate id {image_id!r}")
        seen.add(image_id)
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_PROMPT_CHARS:
            raise ViperError(f"{where} ({image_id}): 'text' must be a prompt of 1 to {MAX_PROMPT_CHARS} characters")
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise ViperError(f"{where} ({image_id}): 'tags' must be a list of non-empty strings")
        prompts.append(GalleryPrompt(image_id, " ".join(text.split()), tuple(dict.fromkeys(t.strip() for t in tags))))
    return prompts


# --------------------------------------------------------------------------------------------------
# Building


def image_seed(base_seed: int, image_id: str) -> int:
    """The seed of one image: from the base seed and the image's id, not its position, so that
    editing the list elsewhere never changes an image that is already rendered."""
    digest = hashlib.sha256(f"{base_seed}/{image_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


def build_gallery(
    generator,
    prompts: Sequence[GalleryPrompt],
    out_dir: Path | str,
    *,
    seed: int = 0,
    steps: int | None = None,
    size: int | None = None,
    limit: int | None = None,
    restart: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Gallery:
    """Render `prompts` with `generator` (a `ViperGenerator`) into `out_dir` and return the gallery.

    Plain generation: no liked/disliked keywords, no personalisation, empty negative prompt.
    `steps` and `size` (a square side in pixels) default to the generator's defaults; `seed` is the
    base of every image's seed. `limit` uses only the first N prompts. Images an earlier run
    rendered with the same settings are kept; those whose prompt text changed are rendered again.
    A folder holding images made with other settings raises `GalleryMismatch` unless `restart`,
    which deletes the images its manifest lists and starts over; a folder whose manifest this
    module did not write is never touched. Invalid arguments raise `InvalidArgument` before any
    image is rendered.
    """
    prompts = list(prompts)
    if not prompts:
        raise InvalidArgument("the prompt list is empty", argument="prompts")
    if len({p.id for p in prompts}) != len(prompts):
        raise InvalidArgument("prompt ids must be unique", argument="prompts")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgument(f"limit must be a whole number of 1 or more, got {limit!r}", argument="limit")
        prompts = prompts[:limit]
    settings = _settings(generator, prompts[0], seed=seed, steps=steps, size=size)

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ViperError(f"cannot create gallery folder {out_dir}: {exc}") from exc
    manifest_path = out_dir / MANIFEST_NAME
    previous = _read_own_manifest(manifest_path)
    if previous is not None and restart:
        _remove_listed_images(out_dir, previous)
        previous = None
    finished: dict[str, dict] = {}
    if previous is not None and previous["images"]:
        _check_same_settings(manifest_path, previous, settings)
        finished = {entry["id"]: entry for entry in previous["images"] if isinstance(entry, dict)}

    # Only images whose prompt is unchanged and whose file is still there count as done.
    done: dict[str, dict] = {}
    for prompt in prompts:
        entry = finished.get(prompt.id)
        if entry and entry.get("prompt") == prompt.text and (out_dir / str(entry.get("file", ""))).is_file():
            done[prompt.id] = _entry(prompt, int(entry.get("seed", image_seed(seed, prompt.id))))

    total = len(prompts)
    _write_manifest(manifest_path, settings, prompts, done)
    to_render = total - len(done)
    rendered, spent = 0, 0.0
    for index, prompt in enumerate(prompts, start=1):
        if prompt.id in done:
            _report(on_progress, BuildProgress("skip", index, total, prompt))
            continue
        eta = spent / rendered * (to_render - rendered) if rendered else None
        _report(on_progress, BuildProgress("start", index, total, prompt, eta_seconds=eta))
        started = time.perf_counter()
        this_seed = image_seed(seed, prompt.id)
        result = generator.generate(
            GenerateRequest(
                prompt=prompt.text,
                seed=this_seed,
                steps=settings.steps,
                width=settings.width,
                height=settings.height,
                guidance=settings.guidance,
                shuffle=False,
            )
        )
        write_atomic(out_dir / f"{prompt.id}.png", result.png)
        done[prompt.id] = _entry(prompt, this_seed)
        _write_manifest(manifest_path, settings, prompts, done)
        seconds = time.perf_counter() - started
        rendered += 1
        spent += seconds
        eta = spent / rendered * (to_render - rendered)
        _report(on_progress, BuildProgress("done", index, total, prompt, seconds=seconds, eta_seconds=eta))
    return load_gallery(out_dir)


def _settings(generator, first: GalleryPrompt, *, seed: int, steps: int | None, size: int | None) -> BuildSettings:
    """Resolve steps, size and guidance as the generator will (its `prepare` validates them too, so a
    bad --size fails here, naming the argument, before the first image)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InvalidArgument(f"seed must be a whole number from 0 to 2**63-1, got {seed!r}", argument="seed")
    plan = generator.prepare(GenerateRequest(prompt=first.text, seed=0, steps=steps, width=size, height=size))
    return BuildSettings(
        model=str(generator.model_name),
        refiner=getattr(generator, "refiner", None) is not None,
        tiny=bool(getattr(generator, "is_tiny", False)),
        width=plan.width,
        height=plan.height,
        steps=plan.steps,
        guidance=float(plan.guidance),
        seed=seed,
    )


def _entry(prompt: GalleryPrompt, seed: int) -> dict:
    return {"id": prompt.id, "file": f"{prompt.id}.png", "prompt": prompt.text, "tags": list(prompt.tags), "seed": seed}


def _write_manifest(path: Path, settings: BuildSettings, prompts: list[GalleryPrompt], done: dict[str, dict]) -> None:
    """The manifest lists the finished images, in the prompt list's order whatever order they were
    rendered in, and says whether the build is complete."""
    images = [done[p.id] for p in prompts if p.id in done]
    manifest = {
        "generator": settings.header(),
        "total": len(prompts),
        "complete": len(images) == len(prompts),
        "images": images,
    }
    write_atomic(path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _read_own_manifest(path: Path) -> dict | None:
    """The manifest of an earlier build in this folder, None when there is none.

    Raises when the folder holds a gallery this module did not make (the procedural one or an
    operator's): resuming into it, or restarting it, would mix or delete someone else's images.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ViperError(f"{path} exists but cannot be read as a gallery manifest ({exc}); choose another --out") from exc
    header = data.get("generator") if isinstance(data, dict) else None
    if not isinstance(header, dict) or header.get("made_by") != MADE_BY or not isinstance(data.get("images"), list):
        raise ViperError(
            f"{path.parent} already holds a gallery that `viper gallery build` did not make; "
            "choose another --out (nothing there was changed)"
        )
    return data


def _check_same_settings(path: Path, previous: dict, settings: BuildSettings) -> None:
    wanted = settings.header()
    recorded = previous["generator"]
    differ = [key for key in wanted if key != "made_by" and recorded.get(key) != wanted[key]]
    if differ:
        was = ", ".join(f"{key}={recorded.get(key)!r}" for key in differ)
        now = ", ".join(f"{key}={wanted[key]!r}" for key in differ)
        count = len(previous["images"])
        raise GalleryMismatch(
            f"{path.parent} holds {count} image(s) made with {was}; this build asks for {now}. "
            "Run with the same settings to resume, add --restart to render the whole gallery again, "
            "or pick another --out."
        )


def _remove_listed_images(out_dir: Path, previous: dict) -> None:
    """Delete the image files an earlier build's manifest lists (only those, only inside out_dir)."""
    root = out_dir.resolve()
    for entry in previous["images"]:
        file_name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(file_name, str):
            continue
        path = (out_dir / file_name).resolve()
        if path.is_relative_to(root) and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
    with contextlib.suppress(OSError):
        (out_dir / MANIFEST_NAME).unlink()


def _report(callback: ProgressCallback | None, event: BuildProgress) -> None:
    if callback is not None:
        callback(event)


def format_duration(seconds: float | None) -> str:
    """"1h02m", "3m05s", "12s": short enough for a progress line; "?" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
