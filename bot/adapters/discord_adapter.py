"""Discord adapter: slash commands, buttons and modals on top of the platform-neutral core.

`ViperDiscordBot` is a discord.py `commands.Bot` that receives the core (`bot.core.ViperBot`) and
the settings; `run_discord` runs it until a stop event is set. Members use four slash commands:

- `/onboard`: an ephemeral message showing one gallery image at a time with Comment, Previous,
  Next and Done buttons. Comment opens a modal with a paragraph field; its answer is stored by the
  core and the message moves on to the next image. Done builds the taste profile.
- `/imagine prompt:<text>`: deferred at once (generation takes longer than Discord's 3 s), then a
  private status message that follows the queue and the denoising steps, and finally the image,
  posted in the channel.
- `/profile`: the liked and disliked features, privately.
- `/help`.

Every button carries its state in its `custom_id` (`viper:comment:<image_id>`, `viper:nav:<number>`,
`viper:done`) and is a `DynamicItem`, so the buttons of messages sent before a restart keep working.
Comment modals are answered by their `Modal` object; one that no object of this process listens to
(opened before a restart, or after its 30-minute timeout) is answered by `on_interaction` with the
same code, so a comment typed across a restart is not lost.

Generation jobs are recorded by the core with a chat reference (the interaction token and the
status message id). A restarted bot resumes every undelivered job: it edits the status message and
posts the image through the interaction webhook while the token is valid (15 minutes), and in the
channel otherwise.

`settings.discord.api_base_url`, when set, points discord.py's HTTP layer at another server (a
proxy, or the emulator of the tests); the gateway address is then asked from that server's
`GET /gateway/bot`, as Discord documents for bots. Both are process-wide in discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.core import Delivery, MemberRef, Update, ViperBot
from viper.config import Settings
from viper.errors import ViperError

log = logging.getLogger("viper.discord")

PLATFORM = "discord"
ONBOARD = "/onboard"
IMAGINE = "/imagine"
MESSAGE_LIMIT = 2000
# Discord accepts follow-ups and edits through an interaction token for 15 minutes; keep a margin.
TOKEN_LIFETIME_S = 15 * 60 - 30
COMMENT_INPUT_ID = "comment"
MODAL_PREFIX = "viper:comment-modal:"
MODAL_TIMEOUT_S = 30 * 60

HOW_TO_COMMENT = (
    "Press **Comment** under an image to say what you think of it, **Next** and **Previous** to "
    "browse, and **Done** once you have enough comments."
)


def member_ref(interaction: discord.Interaction) -> MemberRef:
    user = interaction.user
    return MemberRef(PLATFORM, str(user.id), user.display_name)


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def configure_api_base(url: str) -> str:
    """Point discord.py's REST routes at `url` (a version suffix such as /v10 is added if missing)."""
    base = url.rstrip("/")
    if not re.search(r"/v\d+$", base):
        from discord.http import INTERNAL_API_VERSION

        base = f"{base}/v{INTERNAL_API_VERSION}"
    discord.http.Route.BASE = base
    return base


async def reply(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    """Answer privately whether or not the interaction was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(clip(text), ephemeral=True, **kwargs)
    else:
        await interaction.response.send_message(clip(text), ephemeral=True, **kwargs)


async def reply_error(interaction: discord.Interaction, err: BaseException) -> None:
    """Tell the member what went wrong in a sentence they can act on; never raise."""
    try:
        await reply(interaction, messages.friendly(err))
    except discord.HTTPException:
        log.warning("could not tell member %s about an error", interaction.user.id, exc_info=True)


async def guarded(interaction: discord.Interaction, action: Callable[[], Awaitable[None]]) -> None:
    """Run a component or modal handler; domain errors become friendly messages, others are logged too."""
    try:
        await action()
    except ViperError as err:
        log.info("member %s: %s", interaction.user.id, err.message)
        await reply_error(interaction, err)
    except Exception as err:
        log.exception("interaction %s (%s) failed", interaction.id, interaction.data)
        await reply_error(interaction, err)


# -- persistent components -----------------------------------------------------------------------


class CommentButton(discord.ui.DynamicItem[discord.ui.Button], template=r"viper:comment:(?P<image_id>[A-Za-z0-9_.-]+)"):
    """Opens the comment modal for one gallery image."""

    def __init__(self, image_id: str):
        super().__init__(
            discord.ui.Button(label="Comment", style=discord.ButtonStyle.primary, emoji="💬",
                              custom_id=f"viper:comment:{image_id}")
        )
        self.image_id = image_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(match["image_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        await guarded(interaction, lambda: bot.open_comment_modal(interaction, self.image_id))


class NavButton(discord.ui.DynamicItem[discord.ui.Button], template=r"viper:nav:(?P<number>\d+)"):
    """Shows gallery image `number` (1-based) in place of the current one."""

    def __init__(self, number: int, label: str = "Next"):
        super().__init__(
            discord.ui.Button(label=label, style=discord.ButtonStyle.secondary, custom_id=f"viper:nav:{number}")
        )
        self.number = number

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(int(match["number"]), getattr(item, "label", None) or "Next")

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        await guarded(interaction, lambda: bot.show_image(interaction, self.number))


class DoneButton(discord.ui.DynamicItem[discord.ui.Button], template=r"viper:done"):
    """Builds the member's taste profile from their comments."""

    def __init__(self, enabled: bool = True):
        super().__init__(
            discord.ui.Button(label="Done", style=discord.ButtonStyle.success, custom_id="viper:done",
                              disabled=not enabled)
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        await guarded(interaction, lambda: bot.finish_onboarding(interaction))


PERSISTENT_ITEMS = (CommentButton, NavButton, DoneButton)


class CommentModal(discord.ui.Modal):
    """A paragraph field for one comment; the answer goes to `ViperDiscordBot.submit_comment`."""

    def __init__(self, bot: "ViperDiscordBot", custom_id: str, image_id: str, number: int | None, max_chars: int):
        title = f"Your comment on image {number}" if number else "Your comment"
        super().__init__(title=title, timeout=MODAL_TIMEOUT_S, custom_id=custom_id)
        self.bot = bot
        self.image_id = image_id
        self.comment = discord.ui.TextInput(
            label="What do you love or dislike, and why?",
            style=discord.TextStyle.paragraph,
            custom_id=COMMENT_INPUT_ID,
            placeholder="e.g. love the teal and the flowing lines; the yellow feels harsh",
            max_length=max_chars,
            required=True,
        )
        self.add_item(self.comment)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        try:
            await self.bot.submit_comment(interaction, self.image_id, self.comment.value)
        finally:
            self.bot.open_modals.discard(self.custom_id)

    async def on_timeout(self) -> None:
        # A late answer is still accepted: `ViperDiscordBot.on_interaction` handles unknown modals.
        self.bot.open_modals.discard(self.custom_id)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        log.error("comment modal failed", exc_info=error)
        self.bot.open_modals.discard(self.custom_id)
        await reply_error(interaction, error)


MODAL_ID = re.compile(re.escape(MODAL_PREFIX) + r"(?P<nonce>[0-9a-f]+):(?P<serial>\d+):(?P<image_id>[A-Za-z0-9_.-]+)")


def modal_values(components: list[dict]) -> dict[str, str]:
    """custom_id -> value of every text input in a modal submit payload (action rows or labels)."""
    found: dict[str, str] = {}
    for component in components or []:
        if component.get("type") == 4 and "custom_id" in component:
            found[component["custom_id"]] = component.get("value") or ""
        found.update(modal_values(component.get("components") or []))
        if isinstance(component.get("component"), dict):
            found.update(modal_values([component["component"]]))
    return found


# -- slash commands ------------------------------------------------------------------------------


class ViperCommands(commands.Cog):
    """The slash commands; each one is a thin call into the core."""

    def __init__(self, bot: "ViperDiscordBot"):
        self.bot = bot

    @app_commands.command(name="onboard", description="Teach me your visual taste by commenting on gallery images.")
    async def onboard(self, interaction: discord.Interaction) -> None:
        await self.bot.start_onboarding(interaction)

    @app_commands.command(name="imagine", description="Paint an image, personalised with your taste profile.")
    @app_commands.describe(prompt="What should I paint?")
    async def imagine(self, interaction: discord.Interaction, prompt: str) -> None:
        await self.bot.imagine(interaction, prompt)

    @app_commands.command(name="profile", description="Show the visual features you like and dislike.")
    async def profile(self, interaction: discord.Interaction) -> None:
        await self.bot.show_profile(interaction)

    @app_commands.command(name="help", description="How to use ViPer.")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(self.bot.help_text(), ephemeral=True)


# -- the bot -------------------------------------------------------------------------------------


class ViperDiscordBot(commands.Bot):
    """discord.py bot wired to the ViPer core. Start it with `run_discord` or `bot.start(token)`."""

    def __init__(self, core: ViperBot, settings: Settings, **options: Any):
        if settings.discord.api_base_url:
            configure_api_base(settings.discord.api_base_url)
        options.setdefault("intents", discord.Intents(guilds=True))
        # The bot never joins voice channels: skip discord.py's warnings about voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(command_prefix=commands.when_mentioned, help_command=None, **options)
        self.core = core
        self.settings = settings
        # Comment modals open in this process (their `Modal` objects answer them). Any other comment
        # modal was opened by an earlier run of the bot, or timed out, and `on_interaction` answers it.
        self.open_modals: set[str] = set()
        self.instance_nonce = secrets.token_hex(3)
        self._modal_serial = 0
        self._deliveries: set[asyncio.Task] = set()

    # -- lifecycle --------------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        if self.settings.discord.api_base_url:
            await self._use_gateway_of_api_base()
        self.add_dynamic_items(*PERSISTENT_ITEMS)
        await self.add_cog(ViperCommands(self))
        self.tree.error(self.on_app_command_error)
        guild_id = self.settings.discord.guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d slash commands globally (they can take a while to appear)", len(synced))
        for record in await self.core.pending_deliveries(PLATFORM):
            self.start_delivery(record.id, record.chat_ref)

    async def _use_gateway_of_api_base(self) -> None:
        from discord.gateway import DiscordWebSocket

        _shards, url, _limits = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        log.info("using the Discord gateway %s announced by %s", url, discord.http.Route.BASE)

    async def close(self) -> None:
        # Stop following jobs: they stay recorded as undelivered and the next start resumes them.
        tasks = list(self._deliveries)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # discord.py waits up to `guild_ready_timeout` after READY before dispatching on_ready, and its
        # close() leaves that wait running: it would then dispatch on a closed client and log an error.
        ready_wait = getattr(self._connection, "_ready_task", None)
        if ready_wait is not None and not ready_wait.done():
            ready_wait.cancel()
        await super().close()

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s (%s)", self.user, self.user.id if self.user else "?")

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, ViperError):
            log.info("/%s for member %s: %s", getattr(interaction.command, "name", "?"), interaction.user.id, original.message)
        else:
            log.error("/%s failed", getattr(interaction.command, "name", "?"), exc_info=original)
        await reply_error(interaction, original)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Answer comment modals that no `Modal` object of this process listens to any more."""
        if interaction.type is not discord.InteractionType.modal_submit or not interaction.data:
            return
        custom_id = str(interaction.data.get("custom_id", ""))
        match = MODAL_ID.fullmatch(custom_id)
        if match is None or custom_id in self.open_modals:
            return
        text = modal_values(interaction.data.get("components", [])).get(COMMENT_INPUT_ID)  # type: ignore[arg-type]
        await self.submit_comment(interaction, match["image_id"], text)

    # -- onboarding -------------------------------------------------------------------------------

    def _progress_line(self, count: int) -> str:
        needed = self.core.min_comments
        if count < needed:
            return f"{count} of {needed} comments"
        return f"{count} of {needed} comments ✓ press Done to build your profile"

    async def _image_message(self, who: MemberRef, number: int, header: str = "") -> dict[str, Any]:
        """The content, file and buttons that show gallery image `number` (wrapping around)."""
        total = len(self.core.gallery)
        if total == 0:
            raise ViperError("the onboarding gallery is empty; the operator must add images")
        number = (number - 1) % total + 1
        image = self.core.image_by_number(number)
        if image is None:
            raise ViperError(f"gallery image {number} is missing; the operator must check the gallery")
        count = await self.core.comment_count(who)
        content = "\n".join(part for part in (header, f"**Image {number} of {total}**", self._progress_line(count)) if part)
        path = Path(image.path)
        file = discord.File(path, filename=f"gallery-{number}{path.suffix or '.png'}", description=image.prompt[:1000] or None)
        view = discord.ui.View(timeout=None)
        view.add_item(CommentButton(image.id))
        if total > 1:
            previous, following = (number - 2) % total + 1, number % total + 1
            if previous != following:
                view.add_item(NavButton(previous, "Previous"))
            view.add_item(NavButton(following, "Next"))
        view.add_item(DoneButton(enabled=count >= self.core.min_comments))
        return {"content": clip(content), "file": file, "view": view}

    async def start_onboarding(self, interaction: discord.Interaction) -> None:
        who = member_ref(interaction)
        status = await self.core.start_onboarding(who)
        shown = await self._image_message(who, status.page.first_number, messages.intro(status, HOW_TO_COMMENT))
        await interaction.response.send_message(ephemeral=True, **shown)

    async def show_image(self, interaction: discord.Interaction, number: int) -> None:
        shown = await self._image_message(member_ref(interaction), number)
        await self._replace_message(interaction, shown)

    async def _replace_message(self, interaction: discord.Interaction, shown: dict[str, Any]) -> None:
        if interaction.message is not None:
            await interaction.response.edit_message(
                content=shown["content"], attachments=[shown["file"]], view=shown["view"]
            )
        else:  # a modal opened from a slash command has no message to update
            await interaction.response.send_message(ephemeral=True, **shown)

    async def open_comment_modal(self, interaction: discord.Interaction, image_id: str) -> None:
        if self.core.gallery.get(image_id) is None:
            raise ViperError("that gallery image is no longer available; run /onboard again")
        self._modal_serial = self._modal_serial % 999_999 + 1  # keeps the custom_id within 100 characters
        custom_id = f"{MODAL_PREFIX}{self.instance_nonce}:{self._modal_serial}:{image_id}"
        modal = CommentModal(self, custom_id, image_id, self.core.image_number(image_id), self.settings.bot.max_comment_chars)
        self.open_modals.add(custom_id)
        try:
            await interaction.response.send_modal(modal)
        except BaseException:
            self.open_modals.discard(custom_id)
            modal.stop()
            raise

    async def submit_comment(self, interaction: discord.Interaction, image_id: str, text: str | None) -> None:
        """Store the comment, acknowledge it and move the onboarding message to the next image."""

        async def act() -> None:
            who = member_ref(interaction)
            count = await self.core.add_comment(who, image_id, text)
            # The core's text names Telegram's /done command; on Discord it is the Done button.
            ack = self.core.comment_ack(count, done_hint="Press Done")
            number = self.core.image_number(image_id) or 0
            shown = await self._image_message(who, number + 1, ack)
            await self._replace_message(interaction, shown)

        await guarded(interaction, act)

    async def finish_onboarding(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        profile = await self.core.finish_onboarding(member_ref(interaction), self._chat_ref(interaction))
        text = messages.format_profile(profile, ONBOARD)
        text += f"\n\nEvery {IMAGINE} you ask for now leans your way. Run {ONBOARD} again any time to refine it."
        await interaction.followup.send(clip(text), ephemeral=True)

    async def show_profile(self, interaction: discord.Interaction) -> None:
        who = member_ref(interaction)
        profile = await self.core.profile(who)
        text = messages.format_profile(profile, ONBOARD)
        if profile is None:
            count = await self.core.comment_count(who)
            if count:
                text += f"\nYou have {count} of {self.core.min_comments} comments so far; {ONBOARD} picks up where you left off."
        await interaction.response.send_message(clip(text), ephemeral=True)

    def help_text(self) -> str:
        return (
            "**ViPer** learns your visual taste once, then paints every image your way.\n"
            f"• {ONBOARD}: comment on at least {self.core.min_comments} gallery images that you love or dislike, "
            "saying why (colours, style, mood, texture, light, composition).\n"
            f"• {IMAGINE} `prompt:`: paint an image, personalised with your taste profile.\n"
            "• /profile: the features you like and dislike.\n"
            "• /help: this message."
        )

    # -- imagine ----------------------------------------------------------------------------------

    def _chat_ref(self, interaction: discord.Interaction) -> dict[str, Any]:
        return {
            "application_id": str(interaction.application_id),
            "interaction_id": str(interaction.id),
            "token": interaction.token,
            "issued_at": time.time(),
            "channel_id": str(interaction.channel_id) if interaction.channel_id else None,
            "guild_id": str(interaction.guild_id) if interaction.guild_id else None,
            "user_id": str(interaction.user.id),
        }

    async def imagine(self, interaction: discord.Interaction, prompt: str) -> None:
        # Generation takes longer than the 3 s Discord allows for a first answer: acknowledge now.
        await interaction.response.defer(thinking=True, ephemeral=True)
        ref = self._chat_ref(interaction)
        submitted = await self.core.submit_imagine(member_ref(interaction), prompt, ref)
        status = await interaction.followup.send(clip(messages.queued(submitted, ONBOARD)), ephemeral=True, wait=True)
        ref["status_message_id"] = str(status.id)
        await self.core.set_chat_ref(submitted.job_id, ref)
        self.start_delivery(submitted.job_id, ref)

    def start_delivery(self, job_id: str, ref: dict[str, Any]) -> asyncio.Task | None:
        """Follow a generation job in the background and post its image; tracked so `close` can stop it."""
        if self.is_closed():  # shutting down: the job stays undelivered and the next start resumes it
            return None
        task = asyncio.create_task(self._deliver(job_id, dict(ref or {})), name=f"viper-deliver-{job_id}")
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        return task

    def _webhook(self, ref: dict[str, Any]) -> discord.Webhook | None:
        """The interaction's webhook while its token is still accepted by Discord."""
        if not ref.get("token") or not ref.get("application_id"):
            return None
        if time.time() - float(ref.get("issued_at", 0)) > TOKEN_LIFETIME_S:
            return None
        return discord.Webhook.partial(int(ref["application_id"]), ref["token"], client=self)

    async def _deliver(self, job_id: str, ref: dict[str, Any]) -> None:
        hook = self._webhook(ref)
        status_id = int(ref["status_message_id"]) if ref.get("status_message_id") else None
        editable = hook is not None and status_id is not None
        shown = ""

        async def set_status(text: str) -> None:
            nonlocal editable, shown
            if not editable or text == shown:
                return
            try:
                await hook.edit_message(status_id, content=clip(text))  # type: ignore[union-attr, arg-type]
                shown = text
            except discord.HTTPException as e:
                log.info("cannot edit the status message of job %s any more: %s", job_id, e)
                editable = False

        async def on_update(update: Update) -> None:
            await set_status(messages.progress(update))

        try:
            try:
                delivery = await self.core.follow(job_id, on_update)
            except ViperError as err:
                log.info("job %s failed: %s", job_id, err.message)
                text = messages.friendly(err)
                if editable:
                    await set_status(text)
                else:
                    await self._post_in_channel(ref, text, None)
                return
            await self._post_image(job_id, ref, hook, delivery)
            await self.core.delivered(job_id)
            await set_status("✅ Your image is ready: it's in the channel.")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering job %s failed; it stays undelivered and is retried at the next start", job_id)

    async def _post_image(self, job_id: str, ref: dict[str, Any], hook: discord.Webhook | None, delivery: Delivery) -> None:
        caption = clip("\n".join([delivery.caption, *delivery.notes]))

        def png() -> discord.File:
            return discord.File(io.BytesIO(delivery.result.png), filename=f"viper-{delivery.result.seed}.png",
                                description=caption[:1000])

        if hook is not None:
            try:
                await hook.send(caption, file=png(), wait=True)
                return
            except (discord.NotFound, discord.Forbidden) as e:
                log.info("the interaction token of job %s is no longer valid (%s); posting in the channel", job_id, e)
            except discord.HTTPException as e:
                if e.status != 401:
                    raise
                log.info("the interaction token of job %s expired; posting in the channel", job_id)
        await self._post_in_channel(ref, caption, png())

    async def _post_in_channel(self, ref: dict[str, Any], text: str, file: discord.File | None) -> None:
        """Post in the member's channel, mentioning them (used once the interaction token is gone)."""
        channel_id = ref.get("channel_id")
        if not channel_id:
            raise ViperError("the job has no channel to post in")
        channel = self.get_partial_messageable(int(channel_id), guild_id=int(ref["guild_id"]) if ref.get("guild_id") else None)
        mention = f"<@{ref['user_id']}> " if ref.get("user_id") else ""
        kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions(everyone=False, roles=False, users=True)}
        if file is not None:
            kwargs["file"] = file
        await channel.send(clip(mention + text), **kwargs)


async def run_discord(core: ViperBot, settings: Settings, token: str, stop: asyncio.Event) -> None:
    """Run the Discord bot until `stop` is set, then close it cleanly (gateway and HTTP session).

    Raises `discord.LoginFailure` for a bad token (after logging how to get a good one) and any
    error that stops the client early.
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
            log.error("Discord refused the token. %s", messages.TOKEN_HELP["discord"])
        runner.result()
