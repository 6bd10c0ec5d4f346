"""Discord adapter: slash commands, buttons, select menus and modals on top of the platform-neutral core.

`ViperDiscordBot` is a discord.py `commands.Bot` that receives the core (`bot.core.ViperBot`) and
the settings; `run_discord` runs it until a stop event is set. Members use five slash commands:

- `/onboard`: an ephemeral pager showing one gallery image at a time, its number, whether the
  member already commented on it, and the progress line ("5 of 8 comments"). Buttons: Comment
  (a modal with a paragraph field; the answer is stored by the core and the pager moves on),
  Skip (pass on an image that leaves the member cold: on to the next image they have not
  commented on), Previous and Next (browse every image, commented or not) and Done. Every move
  saves the pager's position in SQLite, so `/onboard` after a restart reopens at the same image.
- Done builds the taste profile on a worker and shows the liked and disliked lists with a review:
  "Looks good", a select menu that removes one feature, and "Redo onboarding", which asks for a
  confirmation (it deletes the comments) and then reopens the pager at image 1. `/profile` shows
  the same review at any time, privately.
- `/imagine prompt:<text>`: deferred at once (generation takes longer than Discord's 3 s), then a
  private status message that follows the queue and the denoising steps, and finally the image,
  posted in the channel.
- `/forget`: deletes everything the bot stores about the member, after a private confirmation
  whose buttons only that member may press.
- `/help`.

Every component carries its state in its `custom_id` and is a `DynamicItem`, so the components of
messages sent before a restart keep working: `viper:comment:<image_id>`, `viper:skip:<number>`,
`viper:nav:<number>`, `viper:done`, `viper:profile:<ok|redo>:<user_id>`,
`viper:profile:remove:<user_id>` (the select menu) and `viper:<redo|forget>:<yes|no>:<user_id>`.
Components that change or delete data name the member they were shown to and refuse anyone else.
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
from storage.store import Profile
from viper.contracts.config import Settings
from viper.contracts.errors import ViperError

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

FORGET = "/forget"
# A select menu holds at most 25 options, and an option's value at most 100 characters.
SELECT_OPTIONS_MAX = 25
OPTION_VALUE_MAX = 100
# How much of an earlier comment the pager quotes under its image.
QUOTE_CHARS = 160

HOW_TO_COMMENT = (
    "Press **Comment** under an image that stirs you and say what you love or dislike about it, "
    "**Skip** to pass on one that leaves you cold, **Previous** and **Next** to browse, and **Done** "
    "once you have enough comments. Your place is saved as you go."
)
NOT_YOURS = "These buttons answer another member's request, so I changed nothing. Run the command yourself to get your own."


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


async def pressed_by_owner(interaction: discord.Interaction, owner_id: int) -> bool:
    """True when the member pressing a component is the one it was shown to; otherwise say so."""
    if interaction.user.id == owner_id:
        return True
    log.info("member %s pressed a component of member %s", interaction.user.id, owner_id)
    try:
        await reply(interaction, NOT_YOURS)
    except discord.HTTPException:
        log.warning("could not tell member %s that a component is not theirs", interaction.user.id, exc_info=True)
    return False


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
    """Opens the comment modal for one gallery image ("Edit comment" once the member wrote one)."""

    def __init__(self, image_id: str, commented: bool = False):
        super().__init__(
            discord.ui.Button(label="Edit comment" if commented else "Comment", style=discord.ButtonStyle.primary,
                              emoji="✏️" if commented else "💬", custom_id=f"viper:comment:{image_id}")
        )
        self.image_id = image_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(match["image_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        await guarded(interaction, lambda: bot.open_comment_modal(interaction, self.image_id))


class SkipButton(discord.ui.DynamicItem[discord.ui.Button], template=r"viper:skip:(?P<number>\d+)"):
    """Passes on gallery image `number`: shows the next image the member has not commented on."""

    def __init__(self, number: int):
        super().__init__(
            discord.ui.Button(label="Skip", style=discord.ButtonStyle.secondary, emoji="⏭️",
                              custom_id=f"viper:skip:{number}")
        )
        self.number = number

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(int(match["number"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        await guarded(interaction, lambda: bot.skip_image(interaction, self.number))


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


class OwnedItem:
    """Mixed into components that change or delete a member's data: only that member may use them.

    discord.py runs `interaction_check` before the callback and drops the interaction when it is False.
    """

    owner: int

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await pressed_by_owner(interaction, self.owner)


class ProfileButton(OwnedItem, discord.ui.DynamicItem[discord.ui.Button], template=r"viper:profile:(?P<action>ok|redo):(?P<owner>\d+)"):
    """Under the profile review: accept the lists ("ok") or ask to redo onboarding ("redo")."""

    LOOKS = {
        "ok": ("Looks good", "✅", discord.ButtonStyle.success),
        "redo": ("Redo onboarding", "🔁", discord.ButtonStyle.secondary),
    }

    def __init__(self, action: str, owner: int):
        label, emoji, style = self.LOOKS[action]
        super().__init__(
            discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=f"viper:profile:{action}:{owner}"),
            row=1,
        )
        self.action, self.owner = action, owner

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(match["action"], int(match["owner"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        if self.action == "ok":
            await guarded(interaction, lambda: bot.accept_profile(interaction))
        else:
            await guarded(interaction, lambda: bot.ask_redo(interaction))


class RemoveFeatureSelect(OwnedItem, discord.ui.DynamicItem[discord.ui.Select], template=r"viper:profile:remove:(?P<owner>\d+)"):
    """A select menu of the member's liked and disliked features; choosing one removes it."""

    def __init__(self, owner: int, options: list[discord.SelectOption] | None = None):
        super().__init__(
            discord.ui.Select(
                custom_id=f"viper:profile:remove:{owner}", placeholder="Remove a feature that isn't you…",
                min_values=1, max_values=1, options=options or [],
            ),
            row=0,
        )
        self.owner = owner

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(int(match["owner"]), list(getattr(item, "options", None) or []))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        chosen = list(self.item.values)
        await guarded(interaction, lambda: bot.remove_feature(interaction, chosen[0] if chosen else ""))


class ConfirmButton(
    OwnedItem, discord.ui.DynamicItem[discord.ui.Button], template=r"viper:(?P<action>redo|forget):(?P<answer>yes|no):(?P<owner>\d+)"
):
    """One answer to a confirmation that deletes data: redoing onboarding or forgetting the member."""

    LOOKS = {
        ("redo", "yes"): ("Yes, start over", discord.ButtonStyle.danger),
        ("redo", "no"): ("Keep my comments", discord.ButtonStyle.secondary),
        ("forget", "yes"): ("Yes, delete everything", discord.ButtonStyle.danger),
        ("forget", "no"): ("Keep my data", discord.ButtonStyle.secondary),
    }

    def __init__(self, action: str, answer: str, owner: int):
        label, style = self.LOOKS[(action, answer)]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"viper:{action}:{answer}:{owner}"))
        self.action, self.answer, self.owner = action, answer, owner

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(match["action"], match["answer"], int(match["owner"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        confirmed = self.answer == "yes"
        if self.action == "redo":
            await guarded(interaction, lambda: bot.answer_redo(interaction, confirmed))
        else:
            await guarded(interaction, lambda: bot.answer_forget(interaction, confirmed))


class CancelImageButton(discord.ui.DynamicItem[discord.ui.Button], template=r"viper:ic:(?P<job_id>[A-Za-z0-9_.-]+)"):
    """✖ Cancel under an /imagine status message (private to its member; the core checks the owner too)."""

    def __init__(self, job_id: str):
        super().__init__(discord.ui.Button(label="Cancel", emoji="✖️", style=discord.ButtonStyle.secondary,
                                           custom_id=f"viper:ic:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(match["job_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: ViperDiscordBot = interaction.client  # type: ignore[assignment]
        await guarded(interaction, lambda: bot.cancel_image(interaction, self.job_id))


def cancel_view(job_id: str) -> discord.ui.View | None:
    """The view holding the Cancel button (None when the job id would not fit a custom_id)."""
    if len(f"viper:ic:{job_id}") > 100:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelImageButton(job_id))
    return view


PERSISTENT_ITEMS = (
    CommentButton, SkipButton, NavButton, DoneButton, ProfileButton, RemoveFeatureSelect, ConfirmButton, CancelImageButton,
)


class CommentModal(discord.ui.Modal):
    """A paragraph field for one comment; the answer goes to `ViperDiscordBot.submit_comment`."""

    def __init__(self, bot: "ViperDiscordBot", custom_id: str, image_id: str, number: int | None, max_chars: int,
                 earlier: str | None = None):
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
            default=earlier[:max_chars] if earlier else None,  # editing replaces the earlier comment
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

    @app_commands.command(name="like", description="Add visual features you like to your taste profile.")
    @app_commands.describe(features="Features separated by commas, e.g. teal, flowing lines, soft light")
    async def like(self, interaction: discord.Interaction, features: str) -> None:
        await self.bot.add_taste(interaction, features, liked=True)

    @app_commands.command(name="dislike", description="Add visual features you dislike to your taste profile.")
    @app_commands.describe(features="Features separated by commas, e.g. neon, clutter, harsh shadows")
    async def dislike(self, interaction: discord.Interaction, features: str) -> None:
        await self.bot.add_taste(interaction, features, liked=False)

    @app_commands.command(name="forget", description="Delete everything I store about you (asks first).")
    async def forget(self, interaction: discord.Interaction) -> None:
        await self.bot.ask_forget(interaction)

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

    async def _comments_by_image(self, who: MemberRef) -> tuple[int, dict[str, str]]:
        """How many comments the member has, and their text by gallery image id."""
        commented = await self.core.comments(who)
        return len(commented), commented

    def _wrap(self, number: int) -> int:
        total = len(self.core.gallery)
        if total == 0:
            raise ViperError("the onboarding gallery is empty; the operator must add images")
        return (number - 1) % total + 1

    def _next_uncommented(self, number: int, commented: dict[str, str]) -> int:
        """The first image after `number` (wrapping around) the member has not commented on."""
        total = len(self.core.gallery)
        for step in range(1, total + 1):
            candidate = self._wrap(number + step)
            image = self.core.image_by_number(candidate)
            if image is not None and image.id not in commented:
                return candidate
        return self._wrap(number + 1)  # every image has a comment: just step on

    async def _image_message(self, who: MemberRef, number: int, header: str = "") -> dict[str, Any]:
        """The content, file and buttons that show gallery image `number` (wrapping around).

        Showing an image is a move of the pager: its position is saved, so `/onboard` reopens there.
        """
        total = len(self.core.gallery)
        number = self._wrap(number)
        image = self.core.image_by_number(number)
        if image is None:
            raise ViperError(f"gallery image {number} is missing; the operator must check the gallery")
        await self.core.save_position(who, number - 1)
        count, commented = await self._comments_by_image(who)
        earlier = commented.get(image.id)
        mark = f"✔ You commented: “{clip(earlier, QUOTE_CHARS)}”" if earlier else ""
        content = "\n".join(
            part for part in (header, f"**Image {number} of {total}**", mark, self._progress_line(count)) if part
        )
        path = Path(image.path)
        file = discord.File(path, filename=f"gallery-{number}{path.suffix or '.png'}", description=image.prompt[:1000] or None)
        view = discord.ui.View(timeout=None)
        view.add_item(CommentButton(image.id, commented=earlier is not None))
        if total > 1:
            view.add_item(SkipButton(number))
            previous, following = self._wrap(number - 1), self._wrap(number + 1)
            if previous != following:
                view.add_item(NavButton(previous, "Previous"))
            view.add_item(NavButton(following, "Next"))
        view.add_item(DoneButton(enabled=count >= self.core.min_comments))
        return {"content": clip(content), "file": file, "view": view}

    async def start_onboarding(self, interaction: discord.Interaction) -> None:
        """Open the pager where the member left it (the core refuses while their profile is being built)."""
        who = member_ref(interaction)
        status = await self.core.start_onboarding(who)
        number = await self.core.position(who) + 1
        shown = await self._image_message(who, number, messages.intro(status, HOW_TO_COMMENT))
        await interaction.response.send_message(ephemeral=True, **shown)

    async def show_image(self, interaction: discord.Interaction, number: int) -> None:
        shown = await self._image_message(member_ref(interaction), number)
        await self._replace_message(interaction, shown)

    async def skip_image(self, interaction: discord.Interaction, number: int) -> None:
        """Pass on image `number` without a comment: on to the next image not commented on yet."""
        who = member_ref(interaction)
        _, commented = await self._comments_by_image(who)
        shown = await self._image_message(who, self._next_uncommented(number, commented))
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
            raise ViperError(f"that gallery image is no longer available; run {ONBOARD} again")
        who = member_ref(interaction)
        await self.core.check_can_comment(who)  # one onboarding at a time: not while the profile is built
        _, commented = await self._comments_by_image(who)
        self._modal_serial = self._modal_serial % 999_999 + 1  # keeps the custom_id within 100 characters
        custom_id = f"{MODAL_PREFIX}{self.instance_nonce}:{self._modal_serial}:{image_id}"
        modal = CommentModal(self, custom_id, image_id, self.core.image_number(image_id),
                             self.settings.bot.max_comment_chars, earlier=commented.get(image_id))
        self.open_modals.add(custom_id)
        try:
            await interaction.response.send_modal(modal)
        except BaseException:
            self.open_modals.discard(custom_id)
            modal.stop()
            raise

    async def submit_comment(self, interaction: discord.Interaction, image_id: str, text: str | None) -> None:
        """Store the comment, acknowledge it and move the pager to the next image not commented on yet."""

        async def act() -> None:
            who = member_ref(interaction)
            count = await self.core.add_comment(who, image_id, text)
            # The core's text names Telegram's /done command; on Discord it is the Done button.
            ack = self.core.comment_ack(count, done_hint="Press Done")
            _, commented = await self._comments_by_image(who)
            number = self.core.image_number(image_id) or 0
            shown = await self._image_message(who, self._next_uncommented(number, commented), ack)
            await self._replace_message(interaction, shown)

        await guarded(interaction, act)

    async def finish_onboarding(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        who = member_ref(interaction)
        profile = await self.core.finish_onboarding(who, self._chat_ref(interaction))
        header = "Here is what I learned from your comments."
        await interaction.followup.send(ephemeral=True, **self._review(interaction.user.id, profile, header))

    # -- the profile review -----------------------------------------------------------------------

    def _review(self, owner: int, profile: Profile | None, header: str = "") -> dict[str, Any]:
        """The liked and disliked lists with Looks good, a select menu to remove one, and Redo onboarding."""
        text = messages.format_profile(profile, ONBOARD)
        view = discord.ui.View(timeout=None)
        if profile is not None:
            text += (
                f"\n\nEvery {IMAGINE} you ask for now leans your way. If a feature isn't you, remove it below; "
                "if the lists feel off, redo onboarding."
            )
            options = self._feature_options(profile)
            if options:
                view.add_item(RemoveFeatureSelect(owner, options))
            view.add_item(ProfileButton("ok", owner))
            view.add_item(ProfileButton("redo", owner))
        content = "\n".join(part for part in (header, text) if part)
        return {"content": clip(content), "view": view}

    @staticmethod
    def _feature_options(profile: Profile) -> list[discord.SelectOption]:
        options: dict[str, discord.SelectOption] = {}
        for emoji, kind, features in (("👍", "liked", profile.liked), ("👎", "disliked", profile.disliked)):
            for feature in features:
                if feature in options or not 0 < len(feature) <= OPTION_VALUE_MAX:
                    continue
                options[feature] = discord.SelectOption(label=feature, value=feature, emoji=emoji, description=f"Remove from {kind}")
        return list(options.values())[:SELECT_OPTIONS_MAX]

    async def show_profile(self, interaction: discord.Interaction) -> None:
        who = member_ref(interaction)
        profile = await self.core.profile(who)
        if profile is not None:
            await interaction.response.send_message(ephemeral=True, **self._review(interaction.user.id, profile))
            return
        text = messages.format_profile(profile, ONBOARD)
        count = await self.core.comment_count(who)
        if count:
            text += f"\nYou have {count} of {self.core.min_comments} comments so far; {ONBOARD} picks up where you left off."
        await interaction.response.send_message(clip(text), ephemeral=True)

    async def remove_feature(self, interaction: discord.Interaction, feature: str) -> None:
        profile = await self.core.remove_feature(member_ref(interaction), feature)
        shown = self._review(interaction.user.id, profile, f"Removed “{feature}”.")
        await interaction.response.edit_message(**shown)

    async def accept_profile(self, interaction: discord.Interaction) -> None:
        profile = await self.core.profile(member_ref(interaction))
        text = messages.format_profile(profile, ONBOARD)
        if profile is not None:
            text += f"\n\n✅ Saved. Every {IMAGINE} now leans your way; /profile shows or edits these lists any time."
        await interaction.response.edit_message(content=clip(text), view=None)

    async def ask_redo(self, interaction: discord.Interaction) -> None:
        count = await self.core.comment_count(member_ref(interaction))
        owner = interaction.user.id
        view = discord.ui.View(timeout=None)
        view.add_item(ConfirmButton("redo", "yes", owner))
        view.add_item(ConfirmButton("redo", "no", owner))
        text = (
            f"Start over? This deletes your {count} comment{'s' if count != 1 else ''} and takes you back to image 1. "
            "Your current profile keeps personalising your images until Done builds a new one."
        )
        await interaction.response.edit_message(content=text, view=view)

    async def answer_redo(self, interaction: discord.Interaction, confirmed: bool) -> None:
        who = member_ref(interaction)
        if not confirmed:
            header = "Nothing changed; your comments are kept."
            await interaction.response.edit_message(**self._review(interaction.user.id, await self.core.profile(who), header))
            return
        status = await self.core.redo_onboarding(who)
        header = "🔁 Your earlier comments are deleted; let's start again.\n" + messages.intro(status, HOW_TO_COMMENT)
        await self._replace_message(interaction, await self._image_message(who, 1, header))

    # -- forgetting a member ----------------------------------------------------------------------

    async def ask_forget(self, interaction: discord.Interaction) -> None:
        owner = interaction.user.id
        view = discord.ui.View(timeout=None)
        view.add_item(ConfirmButton("forget", "yes", owner))
        view.add_item(ConfirmButton("forget", "no", owner))
        text = (
            "Delete everything I store about you? That is your taste profile, your onboarding comments and "
            "progress, and the record of your image requests. This cannot be undone."
        )
        await interaction.response.send_message(text, view=view, ephemeral=True)

    async def answer_forget(self, interaction: discord.Interaction, confirmed: bool) -> None:
        if not confirmed:
            await interaction.response.edit_message(content="Nothing was deleted; your data stays as it was.", view=None)
            return
        who = member_ref(interaction)
        profile = await self.core.profile(who)
        count = await self.core.comment_count(who)
        if not await self.core.forget(who):
            await interaction.response.edit_message(content="I had nothing stored about you, so nothing was deleted.", view=None)
            return
        deleted = []
        if profile is not None:
            deleted.append(f"your taste profile ({len(profile.liked)} liked and {len(profile.disliked)} disliked features)")
        if count:
            deleted.append(f"your {count} onboarding comment{'s' if count != 1 else ''}")
        deleted += ["your place in the gallery", "the record of your image requests"]
        text = (
            f"🗑️ Deleted {', '.join(deleted[:-1])} and {deleted[-1]}. I no longer store anything about you.\n"
            "Images already posted in a channel stay there; delete those messages if you want them gone. "
            f"{ONBOARD} starts afresh whenever you like."
        )
        await interaction.response.edit_message(content=clip(text), view=None)

    def help_text(self) -> str:
        return (
            "**ViPer** learns your visual taste once, then paints every image your way.\n"
            f"• {ONBOARD}: comment on at least {self.core.min_comments} gallery images that you love or dislike, "
            "saying why (colours, style, mood, texture, light, composition). **Skip** the ones that leave you cold; "
            "your place is saved, so you can stop and come back. Press **Done** to build your profile.\n"
            f"• {IMAGINE} `prompt:`: paint an image, personalised with your taste profile.\n"
            "• /profile: the features you like and dislike; remove one, or redo onboarding.\n"
            "• /like and /dislike `features:`: add features in your own words (a feature on the other list moves over).\n"
            f"• {FORGET}: delete everything I store about you (I ask first).\n"
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
        view = cancel_view(submitted.job_id) or discord.utils.MISSING
        status = await interaction.followup.send(
            clip(messages.queued(submitted, ONBOARD)), ephemeral=True, wait=True, view=view
        )
        ref["status_message_id"] = str(status.id)
        await self.core.set_chat_ref(submitted.job_id, ref)
        self.start_delivery(submitted.job_id, ref)

    async def add_taste(self, interaction: discord.Interaction, features: str, *, liked: bool) -> None:
        profile, added = await self.core.add_taste(member_ref(interaction), features, liked=liked)
        await reply(interaction, messages.taste_added(added, liked) + "\n\n" + messages.format_profile(profile, ONBOARD))

    async def cancel_image(self, interaction: discord.Interaction, job_id: str) -> None:
        """The Cancel button: the job is dropped or stopped, and its delivery task edits the status."""
        await reply(interaction, messages.cancel_answer(await self.core.cancel_image(member_ref(interaction), job_id)))

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

        async def set_status(text: str, *, final: bool = False) -> None:
            nonlocal editable, shown
            if not editable or (text == shown and not final):
                return
            try:
                # Progress edits leave the Cancel button alone; the final one takes it away.
                extra: dict[str, Any] = {"view": None} if final else {}
                await hook.edit_message(status_id, content=clip(text), **extra)  # type: ignore[union-attr, arg-type]
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
                    await set_status(text, final=True)
                else:
                    await self._post_in_channel(ref, text, None)
                return
            await self._post_image(job_id, ref, hook, delivery)
            await self.core.delivered(job_id)
            await set_status("✅ Your image is ready: it's in the channel.", final=True)
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
