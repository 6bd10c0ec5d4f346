"""`viper imagine`: one image through the same queue and profile store as the bot."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
from pathlib import Path

from bot.core.codes import read_share_code
from bot.core.params import ImagineParams, check_params
from bot.core.types import MemberRef
from viper.cli.common import settings_of
from viper.contracts import jobs
from viper.contracts.config import Settings
from viper.contracts.errors import InvalidArgument, ViperError
from viper.cli import common


# -- imagine ------------------------------------------------------------------------------------


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


async def resolve_member(store, user: str):
    """`--user` is `platform:id` (e.g. telegram:1234), or a name: a CLI member or a display name."""
    platform, _, uid = user.partition(":")
    member = await store.find_member(platform, uid) if uid else await store.find_member("cli", user)
    if member is None:
        named = await store.members_named(user)
        member = named[0] if len(named) == 1 else None
    return member


async def _resolve_profile(runtime, user: str) -> tuple[list[str], list[str]] | None:
    member = await resolve_member(runtime.store, user)
    profile = await runtime.store.profile(member.id) if member else None
    return (profile.liked, profile.disliked) if profile else None


def share_code_arg(text: str) -> str:
    """argparse type of --p: a share code in canonical form, or `me`."""
    code = "me" if text.lower() == "me" else read_share_code(text)
    if code is None:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a share code (like vp-7KQ2MX9A) or me")
    return code


# Who looks share codes up from a terminal when no --user is given (lookups are counted per account).
TERMINAL = MemberRef("cli", "terminal", "terminal")


async def _blended(runtime, args: argparse.Namespace, params: ImagineParams) -> tuple[list[str], list[str]]:
    """--p: the share codes' profiles (and `me`, the --user's), blended as /imagine --p blends them."""
    member = await resolve_member(runtime.store, args.user) if args.user else None
    if member is None:
        if "me" in params.profiles:
            raise InvalidArgument("--p me needs --user, whose profile “me” is", argument="p")
        member = await runtime.core.member(TERMINAL)
    who = MemberRef(member.platform, member.platform_user_id, member.display_name)
    return await runtime.core.blended_profile(who, member, params.profiles)


# The engine's bounds for a request (engine.generation: MAX_SEED, MAX_GUIDANCE, and the 64 px floor of every model's smallest side), repeated here so a bad argument is
# refused in a moment, before torch is imported or a model loads. tests/test_cli.py checks that they
# agree with the engine's. The worker checks every request again (e.g. SDXL's 256 px floor).
MAX_SEED = 2**64 - 1
MIN_SIDE = 64
MAX_GUIDANCE = 30.0


def check_imagine_args(args: argparse.Namespace, settings: Settings) -> ImagineParams:
    """Refuse out-of-range `viper imagine` arguments with InvalidArgument naming the flag.

    --ar, --no, --strength and the prompt go through the bot's own check (`check_params`), so the CLI
    accepts what /imagine accepts; the seed keeps the engine's whole 64-bit range here. Returns them
    checked, for `imagine_request`.
    """

    def whole(name: str, value: int | None, low: int, high: int) -> None:
        if value is not None and not low <= value <= high:
            raise InvalidArgument(f"--{name} must be between {low} and {high}, got {value}", argument=name)

    def number(name: str, value: float | None, low: float, high: float) -> None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise InvalidArgument(f"--{name} must be between {low:g} and {high:g}, got {value:g}", argument=name)

    whole("seed", args.seed, 0, MAX_SEED)
    whole("steps", args.steps, 1, settings.engine.max_steps)
    for side in ("width", "height"):
        value = getattr(args, side)
        whole(side, value, MIN_SIDE, settings.engine.max_side)
        if value is not None and value % 8:
            raise InvalidArgument(f"--{side} must be a multiple of 8, got {value}", argument=side)
    number("guidance", args.guidance, 0.0, MAX_GUIDANCE)
    if args.ar is not None and (args.width is None) != (args.height is None):
        raise InvalidArgument("--ar sets both sides; give both --width and --height to choose the size yourself, "
                              "or only --ar", argument="ar")
    params = ImagineParams(prompt=args.prompt, ar=args.ar, strength=args.strength, no=args.no or "",
                           profiles=list(getattr(args, "p", None) or []))
    return check_params(params, max_steps=settings.engine.max_steps)


def imagine_request(
    args: argparse.Namespace, params: ImagineParams, prompt: str, liked: list[str], disliked: list[str]
) -> jobs.GenerateRequest:
    """The request `viper imagine` queues: `params` as `check_imagine_args` returned them, `prompt` as
    the core checked it, and the profile's lists. --negative and --no are joined with a comma; an
    explicit --width and --height win over --ar, which is then not sent."""
    sized = args.width is not None and args.height is not None
    negative = ", ".join(text for text in (args.negative, params.no) if text)
    return jobs.GenerateRequest(
        prompt=prompt, liked=liked, disliked=disliked, negative_prompt=negative,
        seed=args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big") >> 1,
        steps=args.steps, width=args.width, height=args.height, guidance=args.guidance,
        aspect=None if sized else params.ar, strength=params.strength, shuffle=not args.no_shuffle,
    )


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
            os.chmod(path, 0o666 & ~common.USER_UMASK)
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


async def _imagine_main(args: argparse.Namespace, settings: Settings, params: ImagineParams) -> int:
    from viper.app import open_runtime

    out = Path(args.output)
    check_output(out)
    runtime = await open_runtime(settings)
    local: _LocalWorker | None = None
    status = StatusLine(sys.stderr)
    try:
        liked, disliked = _split_list(args.liked), _split_list(args.disliked)
        if params.profiles:
            liked, disliked = await _blended(runtime, args, params)
        elif args.user:
            found = await _resolve_profile(runtime, args.user)
            if found is None:
                print(f"warning: no taste profile for {args.user!r}; the image is not personalised", file=sys.stderr)
            else:
                liked, disliked = found
        request = imagine_request(args, params, runtime.core.check_prompt(args.prompt), liked, disliked)
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
    if args.p and (args.liked or args.disliked):
        print("error: use either --p or --liked/--disliked, not both", file=sys.stderr)
        return 2
    settings = settings_of(args)
    params = check_imagine_args(args, settings)
    return asyncio.run(_imagine_main(args, settings, params))
