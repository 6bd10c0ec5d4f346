"""`viper extract` and `viper gallery build`: one-off work from a terminal."""

from __future__ import annotations

import argparse
import json
import reprlib
import sys
import threading
import time
from pathlib import Path

from viper.cli.common import settings_of
from viper.contracts.config import Settings
from viper.contracts.errors import InvalidArgument, ViperError
from viper.cli.imagine import StatusLine

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, 60, 60


# -- extract ------------------------------------------------------------------------------------


def _extract_comments(items: list, settings: Settings) -> list:
    """The JSON entries as `Comment`s, resolving gallery ids and checking image files up front.

    Nothing here stops the run: an entry without a comment string is skipped, an unknown image id
    or an image that does not open leaves its comment as text only, each with a warning on stderr,
    so one bad entry never costs the member's other comments.
    """
    from viper.contracts import jobs

    gallery, gallery_error = None, None
    comments = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("comment"), str):
            print(f"warning: entry {number}: skipped, it has no \"comment\" string: {_brief(item)}", file=sys.stderr)
            continue
        image = item.get("image")
        if image is not None and (isinstance(image, bool) or not isinstance(image, (str, int, float))):
            print(f"warning: entry {number}: \"image\" is neither a gallery id nor a path: {_brief(image)}; "
                  "reading the comment alone", file=sys.stderr)
            image = None
        image = str(image).strip() if image is not None else ""
        comment = jobs.Comment(text=item["comment"], image_id=image or None)
        if image and _is_file(image):
            if _image_opens(image):
                comment.image_path = image
            else:
                print(f"warning: entry {number}: {image} is not an image that opens; reading the comment alone", file=sys.stderr)
        elif image:
            if gallery is None and gallery_error is None:
                try:
                    from viper.app import open_gallery

                    gallery = open_gallery(settings)
                except ViperError as e:
                    gallery_error = e.message
            entry = gallery.get(image) if gallery is not None else None
            if entry is None:
                why = f"the gallery cannot be opened ({gallery_error})" if gallery_error else "no gallery image or file has it"
                print(f"warning: entry {number}: unknown image {image[:80]!r} ({why}); reading the comment alone",
                      file=sys.stderr)
            else:
                comment.image_tags, comment.image_path = list(entry.tags), str(entry.path)
        comments.append(comment)
    return comments


def _brief(value) -> str:
    """A short picture of any JSON value, however deep or long (str() of a deep list recurses)."""
    return (value if isinstance(value, str) else _BRIEF.repr(value))[:80]


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # a name too long for the file system, say
        return False


def _image_opens(path: str) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception:  # Pillow raises many types for a broken file; all mean "not usable"
        return False


MAX_EXTRACT_BYTES = 5 * 1024 * 1024
"""The largest comments file `viper extract` reads: a member's comments are a few kilobytes, and the
lexicon reads about 100 KB a second, so a bigger file is a mistake, not a member."""


def _read_capped(path: str, limit: int = MAX_EXTRACT_BYTES) -> str:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgument(
            f"{path} is larger than {limit / 1024 / 1024:g} MB, the most `viper extract` reads; "
            "give it one member's comments (a few KB)",
            argument="file",
        )
    return data.decode("utf-8")


def extract_with_progress(extractor, comments: list, stream=None, every: float = 2.0):
    """`extractor.extract(comments)`; on a run longer than `every` seconds, a status line on `stream`
    (stderr) says, every `every` seconds, that it is still reading and for how long."""
    stream = stream if stream is not None else sys.stderr
    status = StatusLine(stream)
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(every):
            status.show(
                f"reading {len(comments)} comments with {extractor.name}: {time.monotonic() - started:.0f} s so far"
            )

    ticker = threading.Thread(target=tick, name="viper-extract-progress", daemon=True)
    ticker.start()
    try:
        return extractor.extract(comments)
    finally:
        done.set()
        ticker.join()
        status.end()


def cmd_extract(args: argparse.Namespace) -> int:
    """Print {"liked": [...], "disliked": [...]} as the last line of stdout; everything else goes to stderr."""
    from engine.extraction import extractor_from_settings

    settings = settings_of(args)
    try:
        items = json.loads(_read_capped(args.file))
    except InvalidArgument as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"error: cannot read {args.file}: its JSON is nested too deeply", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        print(f"error: cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    if not isinstance(items, list):
        print(f"error: {args.file} must hold a JSON list of {{\"comment\": ..., \"image\": ...}}", file=sys.stderr)
        return 2
    comments = _extract_comments(items, settings)
    extractor = extractor_from_settings(settings.extraction, args.backend or None)
    result = extract_with_progress(extractor, comments)
    print(f"{len(comments)} comments read by {result.backend} {result.backend_version}", file=sys.stderr)
    print(json.dumps({"liked": result.liked, "disliked": result.disliked}, ensure_ascii=False), flush=True)
    return 0


# -- gallery build ------------------------------------------------------------------------------


def cmd_gallery_build(args: argparse.Namespace) -> int:
    """Render the onboarding gallery with the configured model, resumably, and say how to use it."""
    from engine.gallery_build import build_gallery, format_duration, load_prompts
    from engine.generation import GenerationDefaults
    from engine.sdxl import load_generator

    if args.limit is not None and args.limit < 1:
        print("error (limit): --limit must be 1 or more", file=sys.stderr)
        return 2
    settings = settings_of(args)
    e = settings.engine
    out = Path(args.out) if args.out else settings.storage.data_dir / "gallery-model"
    prompts = load_prompts(args.prompts)  # before the model loads: a broken list fails in a second
    print(f"loading model {e.model} ...", file=sys.stderr, flush=True)
    generator = load_generator(
        e.model, device=e.device, dtype=e.dtype, refiner=e.refiner or None, cache_dir=e.cache_dir or None,
        defaults=GenerationDefaults(
            steps=e.steps, guidance=e.guidance, width=e.width, height=e.height, max_side=e.max_side,
        ),
    )
    if generator.is_tiny:
        print(
            "note: [engine] model is \"tiny\", the random-weight test model: these images are noise, "
            "useful only to try the command.",
            file=sys.stderr,
        )
    count = min(len(prompts), args.limit) if args.limit else len(prompts)
    print(f"rendering {count} images into {out} (already rendered ones are kept)", flush=True)

    def show(event) -> None:
        text = event.prompt.text if len(event.prompt.text) <= 48 else event.prompt.text[:47] + "…"
        head = f"[{event.index}/{event.total}] {event.prompt.id}"
        if event.phase == "skip":
            print(f"{head}  already rendered", flush=True)
        elif event.phase == "start":
            print(f"{head}  {text} ", end="", flush=True)
        else:
            print(f"{event.seconds:.1f} s, ETA {format_duration(event.eta_seconds)}", flush=True)

    try:
        gallery = build_gallery(
            generator, prompts, out, seed=args.seed, steps=args.steps, size=args.size, limit=args.limit,
            restart=args.restart, on_progress=show,
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted; the images finished so far are kept in {out}: run the same command to resume",
              file=sys.stderr)
        return 130
    folder = out.resolve()
    print(f"\ndone: {len(gallery)} images in {folder}")
    print("To onboard members with it, set in config.toml:\n")
    print(f'[gallery]\npath = "{folder}"\n')
    print(f"or the environment variable VIPER_GALLERY__PATH={folder}")
    return 0
