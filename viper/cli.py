"""`viper`: run the bot, the worker, or one-off jobs from a terminal.

    viper up                      bot (every adapter whose token is set) + a worker + embedded Redis
    viper bot | viper worker      the two processes separately (production: workers on GPU hosts)
    viper imagine "prompt" ...    one image through the same queue and profile store
    viper extract FILE            liked/disliked features from a JSON list of comments
    viper gallery build           render the onboarding gallery with the configured model
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import reprlib
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from viper.contracts.config import ConfigError, Settings, load_settings
from viper.contracts.errors import InvalidArgument, ViperError

log = logging.getLogger("viper")

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, 60, 60


def no_token_help() -> str:
    from bot.messages import TOKEN_HELP

    return (
        "No chat platform token is set, so no bot is connected (the worker still runs; try `viper imagine`).\n"
        "To connect one, set its environment variable and run `viper up` again:\n  "
        + "\n  ".join(TOKEN_HELP.values())
    )


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


# -- up / bot / worker --------------------------------------------------------------------------


async def _run_adapters(settings: Settings, stop: asyncio.Event) -> None:
    from viper.app import open_runtime

    runtime = await open_runtime(settings)
    tasks = []
    try:
        if settings.telegram_token:
            from bot.adapters.telegram import run_telegram

            tasks.append(asyncio.create_task(run_telegram(runtime.core, settings, settings.telegram_token, stop)))
            log.info("Telegram adapter starting")
        if settings.discord_token:
            from bot.adapters.discord import run_discord

            tasks.append(asyncio.create_task(run_discord(runtime.core, settings, settings.discord_token, stop)))
            log.info("Discord adapter starting")
        if not tasks:
            print(no_token_help(), file=sys.stderr)
        await stop.wait()
        for t in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, timeout=15)
    finally:
        await runtime.close()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _bot_main(settings: Settings) -> None:
    await _run_adapters(settings, _stop_event())


def cmd_bot(args: argparse.Namespace) -> int:
    asyncio.run(_bot_main(_settings(args)))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from engine.worker import make_worker

    url = args.redis_url or settings.redis.url
    if not url:
        from viper.redis_server import EmbeddedRedis

        url = EmbeddedRedis(settings.storage.data_dir).url
        if not Path(url.removeprefix("unix://")).exists():
            print("No Redis to work for: set [redis] url (VIPER_REDIS__URL), or start `viper up` first.", file=sys.stderr)
            return 2
    make_worker(settings, url).run()
    return 0


class _WorkerSupervisor:
    """The worker process `viper up` runs: started again, with backoff, whenever it dies."""

    FIRST_DELAY_S = 1.0
    MAX_DELAY_S = 60.0
    STABLE_S = 60.0  # a worker that ran this long before dying starts again after the first delay

    def __init__(self, cmd: list[str], env: dict):
        self.cmd, self.env = cmd, env
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.delay = self.FIRST_DELAY_S
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env=self.env)
        self.started_at = time.monotonic()

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if stop.is_set() or self.proc.poll() is None:
                continue
            if time.monotonic() - self.started_at >= self.STABLE_S:
                self.delay = self.FIRST_DELAY_S
            log.error(
                "the worker (pid %s) exited with code %s; restarting it in %.0f s",
                self.proc.pid, self.proc.returncode, self.delay,
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.delay)
            if stop.is_set():
                return
            self.delay = min(self.delay * 2, self.MAX_DELAY_S)
            self.start()
            self.restarts += 1
            log.warning("worker restarted (pid %s, restart %d); models load in the background", self.proc.pid,
                        self.restarts)

    def stop(self) -> None:
        """SIGINT, as a terminal would: the worker hands its running jobs back to the queue, then exits."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _up_main(settings: Settings, config: str | None) -> int:
    from viper.app import resolve_redis

    settings.storage.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    url, embedded = await resolve_redis(settings)
    env = dict(os.environ, VIPER_REDIS__URL=url)
    cmd = [sys.executable, "-m", "viper.cli"] + (["--config", config] if config else []) + ["worker"]
    worker = _WorkerSupervisor(cmd, env)
    try:
        worker.start()
        log.info("worker started (pid %s); models load in the background", worker.proc.pid)
        settings.redis.url = url
        stop = _stop_event()
        watcher = asyncio.create_task(worker.watch(stop))
        try:
            await _run_adapters(settings, stop)
        finally:
            stop.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    finally:
        worker.stop()
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    return asyncio.run(_up_main(_settings(args), args.config))


# -- imagine ------------------------------------------------------------------------------------


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


async def _resolve_profile(runtime, user: str) -> tuple[list[str], list[str]] | None:
    """`--user` is `platform:id` (e.g. telegram:1234), or a name: a CLI member or a display name."""
    store = runtime.store
    platform, _, uid = user.partition(":")
    member = await store.find_member(platform, uid) if uid else await store.find_member("cli", user)
    if member is None:
        named = await store.members_named(user)
        member = named[0] if len(named) == 1 else None
    profile = await store.profile(member.id) if member else None
    return (profile.liked, profile.disliked) if profile else None


# The engine's bounds for a request (engine.generation: MAX_SEED, GenerationDefaults().max_steps,
# MAX_GUIDANCE, MAX_STRENGTH, and the 64 px floor of every model's smallest side), repeated here so a bad
# argument is refused in a moment, before torch is imported or a model loads. tests/test_cli.py checks
# that they agree with the engine's. The worker checks every request again (e.g. SDXL's 256 px floor).
MAX_SEED = 2**64 - 1
MAX_STEPS = 100
MIN_SIDE = 64
MAX_GUIDANCE = 30.0
MAX_STRENGTH = 2.0


def check_imagine_args(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse out-of-range `viper imagine` arguments with InvalidArgument naming the flag."""

    def whole(name: str, value: int | None, low: int, high: int) -> None:
        if value is not None and not low <= value <= high:
            raise InvalidArgument(f"--{name} must be between {low} and {high}, got {value}", argument=name)

    def number(name: str, value: float | None, low: float, high: float) -> None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise InvalidArgument(f"--{name} must be between {low:g} and {high:g}, got {value:g}", argument=name)

    whole("seed", args.seed, 0, MAX_SEED)
    whole("steps", args.steps, 1, MAX_STEPS)
    for side in ("width", "height"):
        value = getattr(args, side)
        whole(side, value, MIN_SIDE, settings.engine.max_side)
        if value is not None and value % 8:
            raise InvalidArgument(f"--{side} must be a multiple of 8, got {value}", argument=side)
    number("guidance", args.guidance, 0.0, MAX_GUIDANCE)
    number("strength", args.strength, 0.0, MAX_STRENGTH)


def check_output(path: Path) -> None:
    """Refuse an output path the image could not be written to, before any work is queued."""
    if path.is_dir():
        raise InvalidArgument(f"{path} is a directory; give a file name, such as {path / 'out.png'}", argument="output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidArgument(f"cannot create the folder {path.parent}: {e.strerror or e}", argument="output") from e
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidArgument(f"cannot write {path}: permission denied", argument="output")


def _write_output(path: Path, data: bytes) -> None:
    """Write the image the user asked for with the user's own umask (not the private one of the data)."""
    existed = path.exists()
    try:
        path.write_bytes(data)
        if not existed:
            os.chmod(path, 0o666 & ~_USER_UMASK)
    except OSError as e:
        raise ViperError(f"cannot write {path}: {e.strerror or e}") from e


class StatusLine:
    """One status line on a stream: redrawn in place on a terminal, one line per change otherwise
    (so a log file or a pipe gets readable lines, not one ever-growing line of carriage returns)."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = ""

    def show(self, text: str) -> None:
        if text == self.shown:
            return
        self.stream.write(f"\r{text}\x1b[K" if self.tty else text + "\n")
        self.stream.flush()
        self.shown = text

    def end(self) -> None:
        """Leave the line (on a terminal, the next output starts below it)."""
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = ""


async def _imagine_main(args: argparse.Namespace, settings: Settings) -> int:
    from viper.contracts import jobs
    from viper.app import open_runtime

    out = Path(args.output)
    check_output(out)
    runtime = await open_runtime(settings)
    local: _LocalWorker | None = None
    status = StatusLine(sys.stderr)
    try:
        liked, disliked = _split_list(args.liked), _split_list(args.disliked)
        if args.user:
            found = await _resolve_profile(runtime, args.user)
            if found is None:
                print(f"warning: no taste profile for {args.user!r}; the image is not personalised", file=sys.stderr)
            else:
                liked, disliked = found
        prompt = runtime.core.check_prompt(args.prompt)
        request = jobs.GenerateRequest(
            prompt=prompt, liked=liked, disliked=disliked, negative_prompt=args.negative or "",
            seed=args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big") >> 1,
            steps=args.steps, width=args.width, height=args.height, guidance=args.guidance,
            liked_strength=args.strength, disliked_strength=args.strength, shuffle=not args.no_shuffle,
        )
        job_id = await runtime.queue.enqueue(jobs.GENERATE_JOB, jobs.to_dict(request))
        local = _LocalWorker(settings, runtime)
        await local.start_if_none()
        watchdog = asyncio.create_task(local.watch())

        async def show(state, progress, position):
            if progress:
                status.show(f"step {progress.step}/{progress.total}")
            elif position:
                status.show(f"queued: position {position}")

        try:
            raw = await runtime.queue.wait(
                job_id, timeout=settings.bot.job_timeout_s, on_update=show, update_interval=0.5
            )
        finally:
            watchdog.cancel()
            status.end()
        result = jobs.from_dict(jobs.GenerateResult, raw)
        _write_output(out, result.png)
        print(f"wrote {out} ({result.width}x{result.height}, {result.steps} steps, seed {result.seed}, model {result.model})")
        for note in runtime.core.result_notes(result):
            print(f"note: {note}", file=sys.stderr)
        return 0
    finally:
        if local is not None:
            await local.close()
        await runtime.close()


class _LocalWorker:
    """The worker `viper imagine` runs in its own process when no other worker is alive: at the start,
    or later, if the worker it counted on stops reporting (arq's health key lapses within 6 s)."""

    def __init__(self, settings: Settings, runtime):
        self.settings, self.runtime = settings, runtime
        self.worker = None
        self.task: asyncio.Task | None = None

    async def start_if_none(self) -> None:
        if self.worker is not None or await self.runtime.queue.workers_alive():
            return
        print("No worker is running; starting one in this process (loading the model)…", file=sys.stderr)
        from engine.worker import make_worker

        self.worker = make_worker(self.settings, self.runtime.redis_url, burst=True, poll_delay=0.1)
        self.task = asyncio.create_task(self.worker.async_run())

    async def watch(self, every: float = 3.0) -> None:
        while self.worker is None:
            await asyncio.sleep(every)
            with contextlib.suppress(ViperError):
                await self.start_if_none()

    async def close(self) -> None:
        if self.task is None:
            return
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, timeout=30)
        with contextlib.suppress(Exception):
            await self.worker.close()  # its health key goes: the next `viper imagine` does not wait for it


def cmd_imagine(args: argparse.Namespace) -> int:
    if args.user and (args.liked or args.disliked):
        print("error: use either --user or --liked/--disliked, not both", file=sys.stderr)
        return 2
    settings = _settings(args)
    check_imagine_args(args, settings)
    return asyncio.run(_imagine_main(args, settings))


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

    settings = _settings(args)
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
    settings = _settings(args)
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


# -- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="viper", description="ViPer Bot: personalised image generation for Discord and Telegram.")
    p.add_argument("--config", help="path of config.toml (default: $VIPER_CONFIG, else ./config.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("up", help="run the bot, a worker and (unless [redis] url is set) an embedded Redis").set_defaults(func=cmd_up)
    sub.add_parser("bot", help="run the chat adapters only").set_defaults(func=cmd_bot)
    w = sub.add_parser("worker", help="run one generation/extraction worker")
    w.add_argument("--redis-url", help="Redis to take jobs from (default: [redis] url or the embedded one)")
    w.set_defaults(func=cmd_worker)

    i = sub.add_parser("imagine", help="generate one image through the queue")
    i.add_argument("prompt")
    i.add_argument("-o", "--output", default="out.png", help="PNG file to write (default: out.png)")
    i.add_argument("--user", help="personalise with this member's profile (NAME or platform:id)")
    i.add_argument("--liked", help='liked features, comma-separated: "teal, flowing lines"')
    i.add_argument("--disliked", help='disliked features, comma-separated')
    i.add_argument("--negative", help="negative prompt (default: empty)")
    i.add_argument("--no-shuffle", action="store_true", help="keep the keywords' order (default: seeded shuffle)")
    i.add_argument("--seed", type=int)
    i.add_argument("--steps", type=int)
    i.add_argument("--width", type=int)
    i.add_argument("--height", type=int)
    i.add_argument("--guidance", type=float)
    i.add_argument("--strength", type=float, help="personalisation strength for both lists (default 0.85; 0 = off)")
    i.set_defaults(func=cmd_imagine)

    e = sub.add_parser("extract", help="extract liked/disliked features from a JSON list of comments")
    e.add_argument("file", help='JSON list of {"comment": ..., "image": optional gallery id or image path}')
    e.add_argument("--backend", choices=("lexicon", "vpe", "openai"), help="extraction backend (default: [extraction] backend)")
    e.set_defaults(func=cmd_extract)

    g = sub.add_parser("gallery", help="manage the onboarding gallery")
    gsub = g.add_subparsers(dest="gallery_command", required=True, metavar="ACTION")
    b = gsub.add_parser(
        "build",
        help="render the gallery with the configured model from the curated prompt list (resumable)",
        description="Render the onboarding gallery with [engine] model. Run it again to resume after an "
        "interruption; images already rendered with the same settings are kept.",
    )
    b.add_argument("--out", help="folder to write (default: <data_dir>/gallery-model)")
    b.add_argument("--steps", type=int, help="denoising steps (default: [engine] steps)")
    b.add_argument("--size", type=int, help="image side in pixels, a multiple of 8 (default: the model's native size)")
    b.add_argument("--seed", type=int, default=0, help="base seed; each image's seed derives from it and its id (default 0)")
    b.add_argument("--limit", type=int, help="use only the first N prompts")
    b.add_argument("--prompts", help="a prompt list of your own, in the format of engine/gallery_prompts.toml")
    b.add_argument("--restart", "--force", dest="restart", action="store_true",
                   help="delete the images an earlier build left in the folder and start over (needed to change settings)")
    b.set_defaults(func=cmd_gallery_build)
    return p


_USER_UMASK = 0o022
"""The umask `viper` was started with: files the user asked for (`imagine -o`) are made with it."""


def main(argv: list[str] | None = None) -> int:
    global _USER_UMASK
    # Before anything writes a file: the data directory, the SQLite file, the embedded Redis's AOF and
    # its log hold members' comments and prompts, so they are the user's alone (0700 and 0600).
    _USER_UMASK = os.umask(0o077)
    try:
        return _main(argv)
    finally:
        os.umask(_USER_UMASK)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "arq.worker", "telegram.ext"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not args.verbose else logging.DEBUG)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except ViperError as e:
        where = f" ({e.argument})" if e.argument else ""
        print(f"error{where}: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug or an unforeseen failure: one line, the traceback with -v
        log.debug("unexpected error", exc_info=True)
        print(f"error: unexpected {type(e).__name__}: {_short(str(e))} (run with -v for details)", file=sys.stderr)
        return 1


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
