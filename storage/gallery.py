"""The onboarding gallery as the bot reads it: a folder of images and a `manifest.json`.

The default gallery is painted by `engine.art` at first start; operators can point `[gallery] path`
at a folder of their own, or one rendered by `viper gallery build`. `load_gallery` validates such a
folder and fails with a message that names the file at fault.

Manifest shape: a JSON list, one object per image::

    [{"id": "g01", "file": "g01.png", "prompt": "Concentric rings ...", "tags": ["teal", ...]}, ...]

or an object with that list under "images" and, optionally, a header beside it ("generator": how
the images were made, "total" and "complete": how far a build got).
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from viper.contracts.errors import InvalidArgument, ViperError

log = logging.getLogger("viper.gallery")

MANIFEST_NAME = "manifest.json"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# --------------------------------------------------------------------------------------------------
# Public data model


@dataclass(frozen=True)
class GalleryImage:
    """One onboarding image: a stable id members' comments refer to, where it lives, what it shows."""

    id: str
    path: Path
    prompt: str
    tags: list[str] = field(default_factory=list)


@dataclass
class Gallery:
    """An ordered set of onboarding images loaded from one folder.

    `header` holds the manifest's optional top-level keys besides the images: a gallery rendered by
    `viper gallery build` records there the model and settings that made it and whether it is
    complete; the procedural gallery and plain operator lists have none.
    """

    directory: Path
    images: list[GalleryImage]
    header: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_id = {image.id: image for image in self.images}

    def get(self, image_id: str) -> GalleryImage | None:
        return self._by_id.get(image_id)

    def page(self, n: int, size: int) -> list[GalleryImage]:
        """Images of page `n` (0-based) when the gallery is shown `size` at a time; [] past the end."""
        if size < 1:
            raise InvalidArgument(f"page size must be at least 1, got {size}", argument="size")
        if n < 0:
            raise InvalidArgument(f"page number must be 0 or more, got {n}", argument="n")
        return self.images[n * size : (n + 1) * size]

    def page_count(self, size: int) -> int:
        if size < 1:
            raise InvalidArgument(f"page size must be at least 1, got {size}", argument="size")
        return math.ceil(len(self.images) / size)

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[GalleryImage]:
        return iter(self.images)


# --------------------------------------------------------------------------------------------------
# Loading (ours or an operator's)


def load_gallery(directory: Path | str) -> Gallery:
    """Read `directory/manifest.json` and check that every image it lists is there.

    Raises `ViperError` naming the manifest or the image file when something is wrong, because the
    person who must fix it is an operator looking at a log line.
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST_NAME
    try:
        raw = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ViperError(f"gallery manifest not found: {manifest_path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ViperError(f"cannot read gallery manifest {manifest_path}: {exc}") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ViperError(
            f"gallery manifest {manifest_path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    header: dict = {}
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        # {"images": [...]}: a shape operators tend to write, and the one `viper gallery build`
        # writes with a header beside the images.
        header = {key: value for key, value in data.items() if key != "images"}
        data = data["images"]
        _check_header(manifest_path, header)
    if not isinstance(data, list):
        raise ViperError(f"gallery manifest {manifest_path} must hold a JSON list of image entries")
    if not data:
        raise ViperError(f"gallery manifest {manifest_path} lists no images")

    root = directory.resolve()
    images: list[GalleryImage] = []
    seen: set[str] = set()
    for index, entry in enumerate(data):
        where = f"gallery manifest {manifest_path}, entry {index}"
        if not isinstance(entry, dict):
            raise ViperError(f"{where}: expected an object with id, file, prompt and tags")
        image_id = entry.get("id")
        file_name = entry.get("file")
        if not isinstance(image_id, str) or not ID_PATTERN.match(image_id):
            raise ViperError(f"{where}: 'id' must be a short string of letters, digits, '-', '_' or '.'")
        if image_id in seen:
            raise ViperError(f"{where}: duplicate id {image_id!r}")
        seen.add(image_id)
        if not isinstance(file_name, str) or not file_name.strip():
            raise ViperError(f"{where} ({image_id}): 'file' must be a path relative to {directory}")
        prompt = entry.get("prompt", "")
        if not isinstance(prompt, str):
            raise ViperError(f"{where} ({image_id}): 'prompt' must be a string")
        tags = entry.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ViperError(f"{where} ({image_id}): 'tags' must be a list of strings")
        path = (directory / file_name).resolve()
        if Path(file_name).is_absolute() or not path.is_relative_to(root):
            raise ViperError(f"{where} ({image_id}): file {file_name!r} is outside the gallery folder {directory}")
        if not path.is_file():
            raise ViperError(f"{where} ({image_id}): image file not found: {path}")
        clean_tags = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        images.append(GalleryImage(id=image_id, path=path, prompt=prompt.strip(), tags=clean_tags))
    if header.get("complete") is False:
        log.warning(
            "gallery %s is incomplete: %d of %s images rendered; run `viper gallery build --out %s` to finish it",
            directory, len(images), header.get("total", "?"), directory,
        )
    if isinstance(header.get("generator"), dict) and header["generator"].get("tiny"):
        log.warning("gallery %s was rendered by the tiny test model: its images are noise, not pictures", directory)
    return Gallery(directory=directory, images=images, header=header)


def _check_header(manifest_path: Path, header: dict) -> None:
    """Type-check the optional keys `viper gallery build` writes; other keys are left to their owner."""
    if "generator" in header and not isinstance(header["generator"], dict):
        raise ViperError(f"gallery manifest {manifest_path}: 'generator' must be an object")
    if "complete" in header and not isinstance(header["complete"], bool):
        raise ViperError(f"gallery manifest {manifest_path}: 'complete' must be true or false")
    total = header.get("total")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise ViperError(f"gallery manifest {manifest_path}: 'total' must be a whole number")


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a crash or a second process never leaves half a PNG."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ViperError(f"cannot write gallery file {path}: {exc}") from exc
