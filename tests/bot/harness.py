"""What the end-to-end tests of both chat stacks share: the bots run in a task, a time bound for a
test, the `Viper` a Telegram test drives and a Discord interaction's private answer. The fixtures
built on these are in `conftest.py`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field

from bot.adapters.discord import run_discord
from bot.adapters.telegram import run_telegram
from bot.core import ViperBot
from tests.emulators.discord_api import EPHEMERAL, LOADING, DiscordEmulator, SentInteraction
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.workers import running_worker


@contextlib.asynccontextmanager
async def telegram_bot(core, settings, api: TelegramAPIEmulator):
    """`run_telegram` in a task until the block ends; waits until it polls."""
    stop = asyncio.Event()
    since = api.mark()
    task = asyncio.create_task(run_telegram(core, settings, api.token, stop))
    polling = asyncio.create_task(api.wait_for(lambda c: c.method == "deleteWebhook", 15, since=since))
    await asyncio.wait({task, polling}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        polling.cancel()
        task.result()  # raises what broke the start-up
        raise AssertionError("run_telegram returned before it was stopped")
    await polling
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def running_bot(runtime, emulator: DiscordEmulator):
    """`run_discord` as the CLI runs it, until the block ends; then a clean stop is required."""
    stop = asyncio.Event()
    expected = emulator.identified + 1
    task = asyncio.create_task(run_discord(runtime.core, runtime.settings, emulator.token, stop))
    try:
        await asyncio.wait_for(emulator.wait_connected(expected), timeout=15)
    except BaseException:
        if task.done():
            task.result()  # show why the bot did not connect
        raise
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await emulator.wait_disconnected()


def bounded_by(limit_s: float):
    """A decorator that fails an async test running longer than `limit_s` instead of letting it hang
    (a module writes `bounded = bounded_by(LIMIT_S)` and puts `@bounded` on its tests)."""

    def bounded(test):
        @functools.wraps(test)
        async def run(*args, **kwargs):
            async with asyncio.timeout(limit_s):
                await test(*args, **kwargs)

        return run

    return bounded


@dataclass
class Viper:
    """The Telegram bot polling the emulator around the test's core (the `viper` and `painting` fixtures)."""

    api: TelegramAPIEmulator
    core: ViperBot
    settings: object
    redis_url: str
    models: dict
    names: dict[int, str] = field(default_factory=dict)  # first names by user id, for `user`

    def worker(self, models: dict | None = None):
        """The real worker, painting until the block ends (only where a test makes an image)."""
        return running_worker(self.settings, self.redis_url, models or self.models)

    def user(self, user_id: int) -> dict:
        return self.api.user(user_id, self.names.get(user_id))


async def private_answer(emu: DiscordEmulator, sent: SentInteraction, why: str = "") -> dict:
    """The ephemeral message an interaction was answered with, once it no longer shows "thinking"."""
    message = await emu.wait_until(
        lambda: (m := emu.messages.get(sent.original_id or "")) and not m["flags"] & LOADING and m,
        what=f"the answer to interaction {sent.id}",
    )
    assert message["flags"] & EPHEMERAL, why
    return message
