"""Fixtures of the end-to-end tests: the emulated Telegram and Discord, and the bots running against them.

A module tunes them with module-level names, read here:

- `TINY_DEFAULTS`: `GenerationDefaults` fields the tiny generator paints with in that module (fewer
  steps, smaller sides); without it the module gets the session's tiny models as they are.
- `MIN_COMMENTS`: the comments that build a profile (`settings.bot.min_comments`), for `tg_settings`.
- `TEST_LIMIT_S`: how long `viper` and `painting` may run; `NAMES`: first names by Telegram user id,
  for `Viper.user`.

Where a module needs more than a value (group admins, a worker painting), it overrides the fixture
with one of the same name that takes this one and adds to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses

import discord
import pytest
from discord.gateway import DiscordWebSocket

from tests.bot.harness import Viper, running_bot, telegram_bot
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.telegram_api import TelegramAPIEmulator


@pytest.fixture(scope="module")
def tiny_models(request, tiny_models):
    """The session's tiny models, or, where the module sets `TINY_DEFAULTS`, a copy painting with
    those defaults on one CPU thread.

    What such a module tests is the delivery, not the painting. On a machine whose two cores are
    shared with other test runs, torch's default of one thread per core oversubscribes them: 8 tiny
    steps took 5-19 s with two threads and 0.6 s with one. The thread count is restored afterwards.
    """
    defaults = getattr(request.module, "TINY_DEFAULTS", None)
    if not defaults:
        yield tiny_models
        return
    import torch

    generator = copy.copy(tiny_models["generator"])  # shares the pipeline (and its lock)
    generator.defaults = dataclasses.replace(generator.defaults, **defaults)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {**tiny_models, "generator": generator}
    torch.set_num_threads(threads)


# -- Telegram ------------------------------------------------------------------------------------------


@pytest.fixture
async def api():
    """The Bot API emulator; at the end, no call Telegram would refuse and no press left unanswered."""
    async with TelegramAPIEmulator() as emulator:
        yield emulator
        assert emulator.errors == [], f"the bot made Bot API calls that Telegram would refuse: {emulator.errors}"
        assert emulator.unanswered_callbacks == [], "a button press was never answered (its button keeps spinning)"


@pytest.fixture
def tg_settings(request, settings, api):
    """`settings` with the bot pointed at the emulator (and the module's `MIN_COMMENTS`, if it sets one)."""
    settings.telegram.api_base_url = api.base_url
    settings.telegram.api_base_file_url = api.base_file_url
    settings.bot.min_comments = getattr(request.module, "MIN_COMMENTS", settings.bot.min_comments)
    return settings


@contextlib.asynccontextmanager
async def polling(request, settings, runtime, redis_url, models, api, *, paint: bool):
    """The bot polling the emulator (after a worker starts painting, if `paint`), bounded by the
    module's `TEST_LIMIT_S`."""
    viper = Viper(api, runtime.core, settings, redis_url, models, getattr(request.module, "NAMES", {}))
    async with asyncio.timeout(request.module.TEST_LIMIT_S), contextlib.AsyncExitStack() as stack:
        if paint:
            await stack.enter_async_context(viper.worker())
        await stack.enter_async_context(telegram_bot(runtime.core, settings, api))
        yield viper


@pytest.fixture
async def viper(request, tg_settings, runtime, redis_url, tiny_models, api):
    """The bot polling the emulator, without a worker (a test starts one with `viper.worker()`), for
    one test (bounded in time)."""
    async with polling(request, tg_settings, runtime, redis_url, tiny_models, api, paint=False) as bot:
        yield bot


@pytest.fixture
async def painting(request, tg_settings, runtime, redis_url, tiny_models, api):
    """The same, with a worker painting images and building profiles."""
    async with polling(request, tg_settings, runtime, redis_url, tiny_models, api, paint=True) as bot:
        yield bot


# -- Discord -------------------------------------------------------------------------------------------


@pytest.fixture
async def discord_api(settings):
    """The emulator, with the settings pointing the bot at it; discord.py's globals restored after."""
    saved = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    async with DiscordEmulator() as emulator:
        settings.discord.api_base_url = emulator.api_base_url
        yield emulator
    discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def emu(runtime, discord_api):
    """The emulator with the bot connected, for the length of a test; nothing unexpected asked of it."""
    async with running_bot(runtime, discord_api):
        yield discord_api
    assert not discord_api.unexpected
