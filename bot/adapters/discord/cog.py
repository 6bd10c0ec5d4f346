"""The slash commands and what their components do, as one discord.py cog (commands and behaviour together).

Names, descriptions and arguments come from the command catalogue (`bot.commands`); every decision
is the core's. Answers are private (ephemeral) except the image, which is posted in the channel
(privately too, for a member whose /settings say so).

The core's buttons (the actions under an image, Undo, /settings, the /link choices and the
/profile import question) all go through `press`, and what the core answers (`Reply`) is drawn by
`show`; a job they start is followed by `follow`, as /imagine's.

Profiles that travel: `/profile action:` shares, unshares, exports (an ephemeral JSON file) or
imports (the `file:` option, refused over 1 MB before it is downloaded); `/imagine profile:` paints
with share codes (and `me`), read as Telegram's `--p`; `/link` and `/unlink` join and split a
Discord and a Telegram account. Everything about a taste stays private (ephemeral).

Busy servers: every request says where it comes from (`place_of`: the server, the channel,
whether the member has Manage Server, whether the channel is age-restricted), and the core applies
the server's limits, blocked terms, channels and pause to it; a refusal reaches the member
privately. `/usage` shows the member's counts; `/admin` is a command group that Discord shows only
to members with Manage Server, in servers (the core checks again on every use: a server may open it
to others in its Integrations settings).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import secrets
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.adapters.discord import components as ui
from bot.adapters.discord.port import MESSAGE_LIMIT, DiscordJobOutput, chat_ref
from bot.commands import DISCORD, ONBOARD_COMMAND, command
from bot.core import MemberRef, PagerView, ViperBot
from bot.core.params import FLAGS, MAX_SEED, MAX_STRENGTH, ImagineParams
from bot.core.results import DELIVERIES
from bot.core.servers import MAX_TERM_CHARS, Place
from bot.core.types import Reply, Submitted
from viper.contracts.errors import InvalidArgument, ViperError
from viper.contracts.jobs import ASPECT_RATIOS

log = logging.getLogger("viper.discord")

ONBOARD = ONBOARD_COMMAND[DISCORD]
UPDATES_IN_PLACE = ("link", "imp")  # presses acknowledged at once, whose answer then edits the pressed message
Choice = app_commands.Choice
STEPS_CEILING = 200  # what the annotations allow; each cog narrows it to `[engine] max_steps`
# The typed options of /imagine and /settings (Discord shows each under its name, up to 100 characters).
IMAGINE_OPTIONS = {
    "ar": "Aspect ratio, width:height (default: your /settings, else square)",
    "seed": f"A whole number from 0 to {MAX_SEED}; the same seed and prompt repeat an image",
    "strength": f"How much your taste shapes it: 0 = plain, 1 = usual, {MAX_STRENGTH:g} = strongest",
    "no": "What to keep out of the image, such as: text, watermark",
    "steps": "Denoising steps, 1 to {max_steps}: more is slower and finer",
    "profile": "Paint in other tastes: share codes (vp-…) and/or me, separated by spaces; they blend",
}
SETTINGS_OPTIONS = {
    "ar": "Your default aspect ratio (auto: square)",
    "strength": f"Your default personalisation strength: 0 = plain, 1 = usual, {MAX_STRENGTH:g} = strongest",
    "steps": "Your default number of steps, 1 to {max_steps}",
    "delivery": "Where your images go: in the channel, or privately to you",
}
AR_CHOICES = [Choice(name=ar, value=ar) for ar in ASPECT_RATIOS]
PROFILE_ACTIONS = ("share", "unshare", "export", "import")
PROFILE_FILE = "The file /profile export made (with action: import)"
EXPORT_NAME = "viper-profile.json"
EXPORTED = ("📤 Your profile, comments, 👍/👎 and settings. Keep the file private: `/profile action: import` "
            "with it puts them back, here or on another account.")
IMPORT_HOW = "attach the file /profile export made: /profile action: import file: viper-profile.json"
# The options of each group's subcommands (the subcommands themselves are the catalogue's).
CHANNEL_ACTIONS = ("add", "remove", "clear", "list")
BLOCK_ACTIONS = ("add", "remove", "list")
SUBCOMMAND_OPTIONS = {"admin": {
    "channels": {"action": "add or remove a channel, clear (everywhere again) or list (the default)",
                 "channel": "The channel to add or remove"},
    "limits": {"images_per_day": "Images per member per day, 0 = unlimited",
               "cooldown_s": "Seconds between a member's images, 0 = none",
               "reset": "Back to the bot's defaults (before the other options)"},
    "block": {"action": "add or remove a term, or list them (the default)",
              "term": f"A word or phrase of at most {MAX_TERM_CHARS} characters, matched as whole words"},
}}


def slash(name: str):
    """`app_commands.command` with the catalogue's name, description and argument description."""
    entry = command(name)

    def decorate(callback):
        if entry.argument is not None:
            callback = app_commands.describe(**{entry.argument.name: entry.argument.description})(callback)
        return app_commands.command(name=entry.name, description=entry.description[:100])(callback)

    return decorate


def group(name: str) -> app_commands.Group:
    """A catalogue command with subcommands, as a slash command group; one for a server's admins
    (`for_admins`) is shown by default only to members with Manage Server, and only in servers."""
    entry = command(name)
    extra: dict[str, Any] = {}
    if entry.for_admins:
        extra = {"default_permissions": discord.Permissions(manage_guild=True), "guild_only": True}
    return app_commands.Group(name=entry.name, description=entry.description[:100], **extra)


def subcommand(parent: app_commands.Group, name: str):
    """`parent.command` with the catalogue's subcommand name and description, and its options' descriptions."""
    entry = next(sub for sub in command(parent.name).subcommands if sub.name == name)

    def decorate(callback):
        described = SUBCOMMAND_OPTIONS.get(parent.name, {}).get(name)
        if described:
            callback = app_commands.describe(**described)(callback)
        return parent.command(name=entry.name, description=entry.description[:100])(callback)

    return decorate


def number_of(args: list[str]) -> int:
    """The image number a pager button carries: ASCII digits only (`int` would take `²` or `①`)."""
    if not args or not re.fullmatch(r"[0-9]{1,6}", args[0]):
        raise InvalidArgument("that button no longer does anything; /help lists what I can do", argument="button")
    return int(args[0])


def opens_a_form(route: str, args: list[str]) -> bool:
    """💬 Why answers with a form, which must be the first answer: no "thinking" before it."""
    return route == "act" and args[:1] == ["why"]


def bound_steps(command: app_commands.Command, max_steps: int, described: str) -> None:
    """Narrow a command's `steps` option to 1..`max_steps` (the operator's `[engine] max_steps`).

    discord.py builds options from annotations, once per class; each cog instance holds its own copy
    of the parameters (`Command._params`, private in discord.py 2.7), so this changes only that one."""
    param = command._params["steps"]
    command._params["steps"] = dataclasses.replace(param, max_value=max_steps,
                                                   description=described.format(max_steps=max_steps))


def share_codes(text: str | None, max_steps: int) -> list[str]:
    """/imagine's `profile` option as Telegram's `--p` reads it (`FLAGS["p"]`): share codes in their
    canonical form, and `me`; refused naming the option. Empty: no codes."""
    if not text or not text.split():
        return []
    flag = FLAGS["p"]
    try:
        codes = flag.convert(text)
    except ValueError:
        codes = None
    if codes is None or not flag.valid(codes, max_steps):
        shown = " ".join(text.split())
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        raise InvalidArgument(f"the profile option takes {flag.describe(max_steps)}, not “{shown}”; nothing was queued",
                              argument="profile")
    return codes


def who_of(interaction: discord.Interaction) -> MemberRef:
    return MemberRef(DISCORD, str(interaction.user.id), interaction.user.display_name)


def place_of(interaction: discord.Interaction) -> Place:
    """Where an interaction comes from, for the core's rules: the server (None in a direct message),
    the channel, whether the member has Manage Server, whether the channel is age-restricted."""
    user, channel = interaction.user, interaction.channel
    admin = False
    if interaction.guild_id is not None and isinstance(user, discord.Member):
        guild = interaction.guild
        # A cached server (the bot's own, with the guilds intent) knows its roles; otherwise the
        # permissions Discord resolved for this interaction hold the member's (Manage Server included).
        known = guild is not None and guild.default_role is not None
        admin = (user.guild_permissions if known else interaction.permissions).manage_guild
    is_nsfw = getattr(channel, "is_nsfw", None)
    return Place(DISCORD, str(interaction.guild_id) if interaction.guild_id else None,
                 str(interaction.channel_id) if interaction.channel_id else None,
                 is_admin=bool(admin), nsfw_channel=bool(is_nsfw()) if callable(is_nsfw) else False)


async def reply(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    """Answer privately whether or not the interaction was already acknowledged."""
    text = messages.fit(text, MESSAGE_LIMIT)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, **kwargs)
    else:
        await interaction.response.send_message(text, ephemeral=True, **kwargs)


async def reply_error(interaction: discord.Interaction, err: BaseException) -> None:
    """Tell the member what went wrong in a sentence they can act on; never raise."""
    if isinstance(err, ViperError):
        log.info("member %s: %s", interaction.user.id, err.message)
    else:
        log.error("interaction %s failed", interaction.id, exc_info=err)
    try:
        await reply(interaction, messages.friendly(err))
    except discord.HTTPException:
        log.warning("could not tell member %s about an error", interaction.user.id, exc_info=True)


class ViperCog(commands.Cog):
    def __init__(self, client: commands.Bot, core: ViperBot):
        self.client, self.core = client, core
        # Comment modals open in this process (their `Modal` objects answer them). Any other comment
        # modal was opened by an earlier run of the bot, or timed out, and `on_interaction` answers it.
        self.open_modals: set[str] = set()
        self.nonce, self.serial = secrets.token_hex(3), 0
        max_steps = core.settings.engine.max_steps
        bound_steps(self.imagine, max_steps, IMAGINE_OPTIONS["steps"])
        bound_steps(self.settings, max_steps, SETTINGS_OPTIONS["steps"])

    # -- slash commands -------------------------------------------------------------------------

    @slash("onboard")
    async def onboard(self, interaction: discord.Interaction) -> None:
        """Open the pager where the member left it (the core refuses while their profile is being built)."""
        who = who_of(interaction)
        status = await self.core.start_onboarding(who)
        shown = await self.core.pager(who, header=await self.core.intro(who, status))
        await interaction.response.send_message(ephemeral=True, **self._pager(shown))

    @slash("imagine")
    @app_commands.describe(**IMAGINE_OPTIONS)
    @app_commands.choices(ar=AR_CHOICES)
    async def imagine(
        self, interaction: discord.Interaction, prompt: str, ar: str | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        strength: app_commands.Range[float, 0.0, MAX_STRENGTH] | None = None,
        no: str | None = None, steps: app_commands.Range[int, 1, STEPS_CEILING] | None = None,
        profile: str | None = None,
    ) -> None:
        # Generation takes longer than the 3 s Discord allows for a first answer: acknowledge now.
        await interaction.response.defer(thinking=True, ephemeral=True)
        ref = chat_ref(interaction)
        codes = share_codes(profile, self.core.settings.engine.max_steps)
        params = ImagineParams(prompt=prompt, ar=ar, seed=seed, strength=strength, no=no or "", steps=steps,
                               profiles=codes)
        submitted = await self.core.submit_imagine(who_of(interaction), params, ref, place=place_of(interaction))
        await self.follow(interaction, submitted, ref)

    async def follow(self, interaction: discord.Interaction, submitted: Submitted, ref: dict[str, Any],
                     lead: str | None = None) -> None:
        """A queued image, from /imagine or a button: its status privately with ✖ Cancel (`lead` first
        on its line), its place remembered with the job, and its delivery in the background."""
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True, ephemeral=True)
        if lead:
            submitted = dataclasses.replace(submitted, text=f"{lead} {submitted.text}")
        cancel = ui.cancel_view(submitted.job_id) or discord.utils.MISSING
        status = await interaction.followup.send(messages.fit(submitted.text, MESSAGE_LIMIT), ephemeral=True,
                                                 wait=True, view=cancel)
        ref["status_message_id"] = str(status.id)
        if submitted.private:
            ref["private"] = True
        await self.core.set_chat_ref(submitted.job_id, ref)
        work = self.core.deliver(submitted.job_id, DiscordJobOutput(self.client, ref), submitted)
        self.client.tasks.spawn(work, f"viper-deliver-{submitted.job_id}")

    @slash("profile")
    @app_commands.describe(file=PROFILE_FILE)
    @app_commands.choices(action=[Choice(name=a, value=a) for a in PROFILE_ACTIONS])
    async def profile(self, interaction: discord.Interaction, action: str | None = None,
                      file: discord.Attachment | None = None) -> None:
        """The profile as it is (no action), or one of the actions that make it travel. A file with no
        action can only mean an import (which asks before it changes anything)."""
        who = who_of(interaction)
        if action is None and file is not None:
            action = "import"
        if action == "share":
            return await reply(interaction, await self.core.share(who))
        if action == "unshare":
            return await reply(interaction, await self.core.unshare(who))
        if action == "export":
            return await self._export(interaction, who)
        if action == "import":
            return await self._import(interaction, who, file)
        if action is not None:  # what a client that skips the choices could send
            raise InvalidArgument(f"the action is one of {', '.join(PROFILE_ACTIONS)}", argument="action")
        profile = await self.core.profile(who)
        if profile is not None:
            return await interaction.response.send_message(ephemeral=True, **ui.review(interaction.user.id, profile))
        text = messages.format_profile(None, ONBOARD)
        count = await self.core.comment_count(who)
        if count:
            text += "\n" + messages.comments_so_far(count, self.core.min_comments, DISCORD)
        await reply(interaction, text)

    async def _export(self, interaction: discord.Interaction, who: MemberRef) -> None:
        """The member's export document as a private JSON file (UTF-8, indented)."""
        document = await self.core.export_profile(who)
        data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        await reply(interaction, EXPORTED, file=discord.File(io.BytesIO(data), filename=EXPORT_NAME))

    async def _import(self, interaction: discord.Interaction, who: MemberRef, file: discord.Attachment | None) -> None:
        """Check an export file and show what importing it would change, with the core's buttons. A
        file over the limit is refused from its announced size, before anything is downloaded."""
        if file is None:
            raise InvalidArgument(IMPORT_HOW, argument="file")
        self.core.check_import_size(file.size)
        await interaction.response.defer(thinking=True, ephemeral=True)  # the download may take a moment
        try:
            data = await file.read()
        except discord.HTTPException:
            raise InvalidArgument("I couldn't download that file from Discord; please send it again",
                                  argument="file") from None
        await self.show(interaction, await self.core.ask_import(who, data), chat_ref(interaction))

    @slash("link")
    async def link(self, interaction: discord.Interaction, code: str | None = None) -> None:
        """No code: a one-time code to type on Telegram. A code from Telegram: what joining would do, as choices."""
        who = who_of(interaction)
        if code is None or not code.strip():
            return await reply(interaction, await self.core.start_link(who))
        await self.show(interaction, await self.core.ask_link(who, code), chat_ref(interaction))

    @slash("unlink")
    async def unlink(self, interaction: discord.Interaction) -> None:
        await reply(interaction, await self.core.unlink(who_of(interaction)))

    @slash("like")
    async def like(self, interaction: discord.Interaction, features: str) -> None:
        await self._add_taste(interaction, features, liked=True)

    @slash("dislike")
    async def dislike(self, interaction: discord.Interaction, features: str) -> None:
        await self._add_taste(interaction, features, liked=False)

    async def _add_taste(self, interaction: discord.Interaction, features: str, *, liked: bool) -> None:
        profile, added = await self.core.add_taste(who_of(interaction), features, liked=liked,
                                                   place=place_of(interaction))
        await reply(interaction, messages.taste_added(added, liked) + "\n\n" + messages.format_profile(profile, ONBOARD))

    @slash("forget")
    async def forget(self, interaction: discord.Interaction) -> None:
        stored = await self.core.stored_about(who_of(interaction))
        if stored is None:
            return await reply(interaction, messages.NOTHING_STORED)
        await reply(interaction, messages.ask_forget(stored), view=ui.confirm_view("forget", interaction.user.id))

    @slash("settings")
    @app_commands.describe(**SETTINGS_OPTIONS)
    @app_commands.choices(ar=[Choice(name="auto", value="auto"), *AR_CHOICES],
                          delivery=[Choice(name=messages.DELIVERY_LABELS[d], value=d) for d in DELIVERIES])
    async def settings(
        self, interaction: discord.Interaction, ar: str | None = None,
        strength: app_commands.Range[float, 0.0, MAX_STRENGTH] | None = None,
        steps: app_commands.Range[int, 1, STEPS_CEILING] | None = None, delivery: str | None = None,
    ) -> None:
        """The member's /imagine defaults, changed by the options given, with buttons that change them."""
        shown = await self.core.update_settings(
            who_of(interaction), ar=ar, strength=None if strength is None else str(strength),
            steps=None if steps is None else str(steps), delivery=delivery,
        )
        await self.show(interaction, shown, chat_ref(interaction))  # a new message: a command has none to edit

    @slash("usage")
    async def usage(self, interaction: discord.Interaction) -> None:
        """Today's images, what is left, the cooldown and the member's queued images, privately."""
        await reply(interaction, await self.core.usage(who_of(interaction), place_of(interaction)))

    @slash("help")
    async def help(self, interaction: discord.Interaction) -> None:
        await reply(interaction, messages.help_text(DISCORD, self.core.min_comments))

    # -- /admin: a group only members with Manage Server see, in servers ---------------------------------

    admin = group("admin")

    @subcommand(admin, "channels")
    @app_commands.choices(action=[Choice(name=a, value=a) for a in CHANNEL_ACTIONS])
    async def admin_channels(self, interaction: discord.Interaction, action: str = "list",
                             channel: discord.TextChannel | None = None) -> None:
        """Where /imagine works: the current list with a channel added or removed, none (everywhere),
        or the list as it is."""
        place = place_of(interaction)
        channels = None
        if action in ("add", "remove"):
            if channel is None:
                raise InvalidArgument(f"choose the channel to {action}", argument="channel")
            current = (await self.core.store.scope_settings(place.scope)).channels if place.scope else []
            ident = str(channel.id)
            channels = [*current, ident] if action == "add" else [c for c in current if c != ident]
        elif action == "clear":
            channels = []
        await reply(interaction, await self.core.admin_channels(place, channels))

    @subcommand(admin, "limits")
    async def admin_limits(self, interaction: discord.Interaction,
                           images_per_day: app_commands.Range[int, 0, 100_000] | None = None,
                           cooldown_s: app_commands.Range[int, 0, 86_400] | None = None, reset: bool = False) -> None:
        await reply(interaction, await self.core.admin_limits(place_of(interaction), images_per_day, cooldown_s,
                                                              reset=reset))

    @subcommand(admin, "block")
    @app_commands.choices(action=[Choice(name=a, value=a) for a in BLOCK_ACTIONS])
    async def admin_block(self, interaction: discord.Interaction, action: str = "list",
                          term: app_commands.Range[str, 1, MAX_TERM_CHARS] | None = None) -> None:
        await reply(interaction, await self.core.admin_block(place_of(interaction), action, term or ""))

    @subcommand(admin, "pause")
    async def admin_pause(self, interaction: discord.Interaction) -> None:
        await self._pause(interaction, True)

    @subcommand(admin, "resume")
    async def admin_resume(self, interaction: discord.Interaction) -> None:
        await self._pause(interaction, False)

    async def _pause(self, interaction: discord.Interaction, paused: bool) -> None:
        place = place_of(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)  # every queued job here is held or let go
        await reply(interaction, await self.core.admin_pause(place, paused))

    @subcommand(admin, "stats")
    async def admin_stats(self, interaction: discord.Interaction) -> None:
        await reply(interaction, await self.core.admin_stats(place_of(interaction)))

    async def cog_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await reply_error(interaction, getattr(error, "original", error))

    # -- components ---------------------------------------------------------------------------------

    async def route(self, interaction: discord.Interaction, route: str, args: list[str], values: list[str]) -> None:
        """A press of a `viper:` component; domain errors become friendly private answers."""
        try:
            who = who_of(interaction)
            if route in ui.PRESSES:
                return await self.press(interaction, who, route, args)
            if route in ui.OWNED:
                self.core.check_owner(who, args[-1] if args else None)
            await getattr(self, f"on_{route}")(interaction, who, args, values)
        except Exception as err:  # noqa: BLE001 - every failure is answered, and logged by reply_error
            await reply_error(interaction, err)

    async def press(self, interaction: discord.Interaction, who: MemberRef, route: str, args: list[str]) -> None:
        """A core button (`act`, `undo`, `set`, `link`, `imp`): the core decides what it means, `show`
        draws the answer."""
        ref = chat_ref(interaction)
        if not opens_a_form(route, args) and route == "act":
            # It may queue an image or read a stored one: acknowledge within Discord's 3 s first.
            await interaction.response.defer(thinking=True, ephemeral=True)
        elif route in UPDATES_IN_PLACE and interaction.message is not None:
            # Merging profiles reads every comment again (an extraction), and an import rewrites a
            # profile: acknowledge now (anyone but the owner is refused first, at once, as the core
            # would); the answer then replaces the question.
            self.core.check_owner(who, args[-1] if args else None)
            await interaction.response.defer()
        await self.show(interaction, await self.core.press(who, route, args, ref, place_of(interaction)), ref)

    async def on_pick(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        """A choice in a select menu drawn from a core row (`ui.choice_menu`): the press of that button."""
        found = ui.pressed(values[0]) if values else None
        if found is None:
            raise InvalidArgument("that button no longer does anything; /help lists what I can do", argument="button")
        await self.press(interaction, who, *found)

    async def show(self, interaction: discord.Interaction, shown: Reply, ref: dict[str, Any]) -> None:
        """Draw what the core answered: a form (💬 Why), an image to follow, a message with its buttons
        (in place of the pressed one when `edit`), or a short private note."""
        if shown.ask_comment:
            modal = ui.WhyModal(shown.ask_comment, self.core.settings.bot.max_comment_chars)
            return await interaction.response.send_modal(modal)
        if shown.submitted is not None:
            return await self.follow(interaction, shown.submitted, ref, lead=shown.toast)
        if shown.text is None:
            if shown.toast:
                await reply(interaction, shown.toast)
            elif interaction.response.is_done():  # nothing to say: take the "thinking" away
                await interaction.delete_original_response()
            return
        content = messages.fit(shown.text, MESSAGE_LIMIT)
        buttons = ui.rows_view(shown.rows)
        if shown.edit and interaction.message is not None:
            if not interaction.response.is_done():
                return await interaction.response.edit_message(content=content, view=buttons)
            if interaction.response.type is discord.InteractionResponseType.deferred_message_update:
                await interaction.edit_original_response(content=content, view=buttons)
                return
        extra: dict[str, Any] = {"view": buttons} if buttons is not None else {}
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=shown.private, **extra)
        else:
            await interaction.response.send_message(content, ephemeral=shown.private, **extra)

    async def submit_why(self, interaction: discord.Interaction, job_id: str, text: str | None) -> None:
        """A 💬 Why form sent back: the comment is stored and, once there are enough, the profile is
        rebuilt from all of them (that takes a moment, hence the "thinking"); the change comes with ↩ Undo."""
        try:
            await interaction.response.defer(thinking=True, ephemeral=True)
            ref = chat_ref(interaction)
            shown = await self.core.comment_on_result(who_of(interaction), job_id, text, ref, place=place_of(interaction))
            await self.show(interaction, shown, ref)
        except Exception as err:  # noqa: BLE001 - answered, and logged by reply_error
            await reply_error(interaction, err)

    def _pager(self, shown: PagerView) -> dict[str, Any]:
        path = Path(shown.image.path)
        file = discord.File(path, filename=f"gallery-{shown.number}{path.suffix or '.png'}",
                            description=shown.image.prompt[:1000] or None)
        view = ui.pager_view(shown.image.id, shown.number, shown.total, shown.earlier is not None, shown.can_finish)
        return {"content": messages.fit(shown.caption, MESSAGE_LIMIT), "file": file, "view": view}

    async def _replace(self, interaction: discord.Interaction, shown: dict[str, Any]) -> None:
        if interaction.message is not None:
            await interaction.response.edit_message(content=shown["content"], attachments=[shown["file"]], view=shown["view"])
        else:  # a modal opened from a slash command has no message to update
            await interaction.response.send_message(ephemeral=True, **shown)

    async def on_nav(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        await self._replace(interaction, self._pager(await self.core.pager(who, number_of(args))))

    async def on_skip(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        await self._replace(interaction, self._pager(await self.core.pager(who, skip_from=number_of(args))))

    async def on_comment(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        image_id = args[0] if args else ""
        if self.core.gallery.get(image_id) is None:
            raise ViperError(f"that gallery image is no longer available; run {ONBOARD} again")
        await self.core.check_can_comment(who)  # one onboarding at a time: not while the profile is built
        self.serial = self.serial % 999_999 + 1  # keeps the custom_id within 100 characters
        custom_id = f"{ui.MODAL_PREFIX}{self.nonce}:{self.serial}:{image_id}"
        earlier = (await self.core.comments(who)).get(image_id)
        modal = ui.CommentModal(self, custom_id, image_id, self.core.image_number(image_id),
                                self.core.settings.bot.max_comment_chars, earlier)
        self.open_modals.add(custom_id)
        try:
            await interaction.response.send_modal(modal)
        except BaseException:
            self.open_modals.discard(custom_id)
            modal.stop()
            raise

    async def submit_comment(self, interaction: discord.Interaction, image_id: str, text: str | None) -> None:
        """Store the comment, acknowledge it and move the pager to the next image not commented on yet."""
        try:
            shown = await self.core.comment_and_move_on(who_of(interaction), image_id, text)
            await self._replace(interaction, self._pager(shown))
        except Exception as err:  # noqa: BLE001 - answered, and logged by reply_error
            await reply_error(interaction, err)

    async def on_done(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        profile = await self.core.finish_onboarding(who, chat_ref(interaction))
        await interaction.followup.send(ephemeral=True, **ui.review(interaction.user.id, profile, messages.LEARNED))

    async def on_profile(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        action = args[0] if args else ""
        if action == "remove":
            feature = values[0] if values else ""
            profile = await self.core.remove_feature(who, feature)
            return await interaction.response.edit_message(**ui.review(interaction.user.id, profile, messages.removed(feature) + "."))
        if action == "redo":
            question = messages.ask_redo(await self.core.comment_count(who), DISCORD)
            return await interaction.response.edit_message(content=question, view=ui.confirm_view("redo", interaction.user.id))
        profile = await self.core.profile(who)
        text = messages.format_profile(profile, ONBOARD)
        if profile is not None:
            text += "\n\n" + messages.accepted(DISCORD)
        await interaction.response.edit_message(content=messages.fit(text, MESSAGE_LIMIT), view=None)

    async def on_redo(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        if args[0] != "yes":
            shown = ui.review(interaction.user.id, await self.core.profile(who), messages.redo_declined(0, DISCORD))
            return await interaction.response.edit_message(**shown)
        status = await self.core.redo_onboarding(who)
        header = messages.STARTED_OVER + "\n" + messages.intro(status.comments, status.needed, False, DISCORD)
        await self._replace(interaction, self._pager(await self.core.pager(who, 1, header=header)))

    async def on_forget(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        if args[0] != "yes":
            return await interaction.response.edit_message(content=messages.FORGET_KEPT, view=None)
        stored = await self.core.stored_about(who)
        if stored is None or not await self.core.forget(who):
            return await interaction.response.edit_message(content=messages.NOTHING_LEFT, view=None)
        text = messages.fit(messages.forgotten(stored, DISCORD), MESSAGE_LIMIT)
        await interaction.response.edit_message(content=text, view=None)

    async def on_ic(self, interaction: discord.Interaction, who: MemberRef, args: list[str], values) -> None:
        """The Cancel button: the job is dropped or stopped, and its delivery task edits the status."""
        await reply(interaction, messages.cancel_answer(await self.core.cancel_image(who, args[0] if args else "")))
