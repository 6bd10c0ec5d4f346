"""Discord adapter: a discord.py `commands.Bot` around the platform-neutral core.

- `cog`: the slash commands and what their buttons do (discord.py's cog pattern);
- `components`: persistent buttons (the core's too, drawn from its `Rows`), select menus and the
  comment and 💬 Why modals; `port`: one /imagine's output (its image with the action buttons).
`ViperDiscordBot` receives the core and the settings in its constructor and syncs the commands in
`setup_hook`; `run_discord` runs it until a stop event is set. A restarted bot resumes every
undelivered image: through the interaction webhook while its token is valid (15 minutes), in the
channel after.

`[discord] api_base_url`, when set, points discord.py's HTTP layer at another server (a proxy, or
the emulator of the tests); the gateway address is then asked from that server's `GET /gateway/bot`.
Both are process-wide in discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

import discord
import yarl
from discord.ext import commands

from bot import messages
from bot.adapters.discord.cog import ViperCog
from bot.adapters.discord.components import (
    COMMENT_INPUT_ID,
    MODAL_ID,
    WHY_INPUT_ID,
    WHY_MODAL_ID,
    Routed,
    modal_values,
)
from bot.adapters.discord.port import DiscordJobOutput
from bot.commands import DISCORD
from bot.core import Background, ViperBot
from viper.contracts.config import Settings
from viper.contracts.errors import TokenRefused

log = logging.getLogger("viper.discord")

__all__ = ["ViperDiscordBot", "configure_api_base", "modal_values", "run_discord"]


def configure_api_base(url: str) -> str:
    """Point discord.py's REST routes at `url` (a version suffix such as /v10 is added if missing)."""
    base = url.rstrip("/")
    if not re.search(r"/v\d+$", base):
        from discord.http import INTERNAL_API_VERSION

        base = f"{base}/v{INTERNAL_API_VERSION}"
    discord.http.Route.BASE = base
    return base


class ViperDiscordBot(commands.Bot):
    def __init__(self, core: ViperBot, settings: Settings, **options: Any):
        if settings.discord.api_base_url:
            configure_api_base(settings.discord.api_base_url)
        options.setdefault("intents", discord.Intents(guilds=True))
        # The bot never joins voice channels: skip discord.py's warnings about voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(command_prefix=commands.when_mentioned, help_command=None, **options)
        self.core, self.settings = core, settings
        self.tasks = Background()

    async def setup_hook(self) -> None:
        if self.settings.discord.api_base_url:
            from discord.gateway import DiscordWebSocket

            _shards, url, _limits = await self.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
            log.info("using the Discord gateway %s announced by %s", url, discord.http.Route.BASE)
        self.add_dynamic_items(Routed)
        await self.add_cog(ViperCog(self, self.core))
        guild_id = self.settings.discord.guild_id
        guild = discord.Object(id=guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d slash commands %s", len(synced), f"to guild {guild_id}" if guild else
                 "globally (they can take a while to appear)")
        await self.core.resume(DISCORD, lambda job: DiscordJobOutput(self, job.chat_ref), self.tasks.spawn)

    async def close(self) -> None:
        await self.tasks.stop()  # undelivered jobs stay recorded; the next start resumes them
        # discord.py waits up to `guild_ready_timeout` after READY before dispatching on_ready, and its
        # close() leaves that wait running: it would then dispatch on a closed client and log an error.
        ready_wait = getattr(self._connection, "_ready_task", None)
        if ready_wait is not None and not ready_wait.done():
            ready_wait.cancel()
        await super().close()

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s (%s)", self.user, self.user.id if self.user else "?")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Answer comment modals that no `Modal` object of this process listens to any more (opened
        before a restart, or after their timeout), so a comment typed across a restart is not lost;
        and every 💬 Why form, whichever run opened it (its custom_id carries the job)."""
        if interaction.type is not discord.InteractionType.modal_submit or not interaction.data:
            return
        cog: ViperCog = self.get_cog("ViperCog")  # type: ignore[assignment]
        custom_id = str(interaction.data.get("custom_id", ""))
        why = WHY_MODAL_ID.fullmatch(custom_id)
        if why is not None:
            text = modal_values(interaction.data.get("components", [])).get(WHY_INPUT_ID)  # type: ignore[arg-type]
            return await cog.submit_why(interaction, why["job_id"], text)
        match = MODAL_ID.fullmatch(custom_id)
        if match is None or custom_id in cog.open_modals:
            return
        text = modal_values(interaction.data.get("components", [])).get(COMMENT_INPUT_ID)  # type: ignore[arg-type]
        await cog.submit_comment(interaction, match["image_id"], text)


async def run_discord(core: ViperBot, settings: Settings, token: str, stop: asyncio.Event) -> None:
    """Run the Discord bot until `stop` is set, then close it cleanly (gateway and HTTP session).

    Raises `TokenRefused` for a token Discord refuses (saying how to get a good one) and any error
    that stops the client early.
    """
    bot = ViperDiscordBot(core, settings)
    async with bot:
        runner = asyncio.create_task(bot.start(token), name="viper-discord")
        stopper = asyncio.create_task(stop.wait(), name="viper-discord-stop")
        try:
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not runner.done():
                log.info("stopping the Discord adapter")
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
        if not runner.cancelled() and isinstance(runner.exception(), discord.LoginFailure):
            error = runner.exception()
            raise TokenRefused(messages.token_refused(DISCORD, str(error)), argument="DISCORD_TOKEN") from error
        runner.result()
