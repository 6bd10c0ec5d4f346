"""Buttons and select menus that keep working across restarts, and the comment modal.

Every component is a `Routed` dynamic item whose `custom_id` carries its state:
`viper:comment:<image_id>`, `viper:skip:<number>`, `viper:nav:<number>`, `viper:done`,
`viper:profile:<ok|redo|remove>:<owner>`, `viper:<redo|forget>:<yes|no>:<owner>`, `viper:ic:<job_id>`.
A press is routed to the cog method of the same name; those whose last part is an owner's user id
are refused (by the core) to anybody else.

The core's own buttons (`bot.core.types.Button`: the actions under an image, Undo, /settings, the
/link choices and the /profile import question) are drawn by `rows_view`, with `Button.data` as
their custom_id (`viper:act:<verb>:<job_id>`, `viper:undo:<snapshot>`, `viper:set:<key>:<value>:<owner>`,
`viper:link:<code>:<choice>:<owner>`, `viper:imp:<yes|no>:<owner>`); `ViperCog.press` hands a press back to
the core with the same route and args. A core row longer than Discord's five buttons is drawn as a
select menu (`viper:pick:<row>`) whose options carry the buttons' data.
"""

from __future__ import annotations

import logging
import re

import discord

from bot import messages
from bot.commands import DISCORD, ONBOARD_COMMAND
from bot.core.results import ACTIONS
from bot.core.types import Button, Rows
from storage.store import Profile

log = logging.getLogger("viper.discord")

COMMENT_INPUT_ID = "comment"
MODAL_PREFIX = "viper:comment-modal:"
MODAL_ID = re.compile(re.escape(MODAL_PREFIX) + r"(?P<nonce>[0-9a-f]+):(?P<serial>[0-9]+):(?P<image_id>[A-Za-z0-9_.-]+)")
WHY_INPUT_ID = "why"
WHY_MODAL_PREFIX = "viper:why-modal:"
WHY_MODAL_ID = re.compile(re.escape(WHY_MODAL_PREFIX) + r"(?P<job_id>[A-Za-z0-9_.-]+)")
OWNED = ("profile", "redo", "forget")
PRESSES = ("act", "undo", "set", "link", "imp")  # the core's buttons: `ViperCog.press` hands them to `ViperBot.press`
PICK = "pick"  # a select menu drawn from a core row too long for buttons
# Discord's limits: five buttons in an action row, five rows in a message, and text lengths in a modal.
ROW_BUTTONS = ROWS = 5
LABEL_MAX, TITLE_MAX, PLACEHOLDER_MAX = 45, 45, 100
STYLES = {
    "primary": discord.ButtonStyle.primary, "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success, "danger": discord.ButtonStyle.danger,
}
# A select menu holds at most 25 options, and an option's value at most 100 characters.
SELECT_OPTIONS_MAX = 25
OPTION_VALUE_MAX = 100


class Routed(discord.ui.DynamicItem[discord.ui.Item],
             template=r"viper:(?P<route>comment|skip|nav|done|profile|redo|forget|ic|act|undo|set|link|imp|pick)(?::(?P<args>\S+))?"):
    """Any of the bot's components; `ViperCog.route` runs what a press of it means."""

    def __init__(self, item: discord.ui.Item):
        super().__init__(item, row=getattr(item, "row", None))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        if isinstance(item, discord.ui.Select):
            return cls(discord.ui.Select(custom_id=item.custom_id, options=list(getattr(item, "options", None) or [])))
        return cls(discord.ui.Button(custom_id=item.custom_id, label=getattr(item, "label", None) or "-"))

    async def callback(self, interaction: discord.Interaction) -> None:
        match = self.__discord_ui_compiled_template__.fullmatch(self.custom_id)
        route, args = match["route"], (match["args"] or "").split(":")
        values = list(self.item.values) if isinstance(self.item, discord.ui.Select) else []
        await interaction.client.get_cog("ViperCog").route(interaction, route, [a for a in args if a], values)


def button(custom_id: str, label: str, style=discord.ButtonStyle.secondary, emoji: str | None = None,
           disabled: bool = False, row: int | None = None) -> Routed:
    return Routed(discord.ui.Button(custom_id=custom_id, label=label, style=style, emoji=emoji, disabled=disabled, row=row))


def view(*items: discord.ui.Item) -> discord.ui.View:
    shown = discord.ui.View(timeout=None)
    for item in items:
        shown.add_item(item)
    return shown


def pressed(data: str) -> tuple[str, list[str]] | None:
    """(route, args) of a core button's data (`viper:<act|undo|set|link|imp>:<arg>...`); None for anything else."""
    match = Routed.__discord_ui_compiled_template__.fullmatch(data)
    if match is None or match["route"] not in PRESSES:
        return None
    return match["route"], [a for a in (match["args"] or "").split(":") if a]


def rows_view(rows: Rows) -> discord.ui.View | None:
    """The core's buttons as a persistent view (None when there are none), one action row per core row.

    A button's custom_id is its `data` and its colour its `style`. A row of more than five buttons
    (more than Discord draws in a row) becomes a select menu offering the same choices, its primary
    button chosen. Rows past Discord's fifth are left out, and logged.
    """
    items: list[discord.ui.Item] = []
    drawn = [row for row in rows if row]
    if len(drawn) > ROWS:
        log.error("a screen has %d rows of buttons; Discord shows %d, the rest are left out", len(drawn), ROWS)
    for index, row in enumerate(drawn[:ROWS]):
        if len(row) <= ROW_BUTTONS:
            items += [button(b.data, messages.fit(b.label, 80), STYLES.get(b.style, discord.ButtonStyle.secondary),
                             row=index) for b in row]
        else:
            items.append(choice_menu(row, index))
    return view(*items) if items else None


def choice_menu(row: list[Button], index: int) -> Routed:
    """A select menu for one core row of choices; choosing one is pressing its button (`ViperCog.on_pick`)."""
    chosen = [b for b in row if b.style == "primary"]
    options = [discord.SelectOption(label=messages.fit(b.label, 100), value=b.data, default=b in chosen[:1])
               for b in row[:SELECT_OPTIONS_MAX]]
    return Routed(discord.ui.Select(custom_id=f"viper:{PICK}:{index}", options=options, min_values=1, max_values=1,
                                    row=index))


def pager_view(image_id: str, number: int, total: int, commented: bool, can_finish: bool) -> discord.ui.View:
    """Comment (Edit comment once written), Skip, Previous, Next and Done under one gallery image."""
    items = [button(f"viper:comment:{image_id}", "Edit comment" if commented else "Comment",
                    discord.ButtonStyle.primary, "✏️" if commented else "💬")]
    if total > 1:
        items.append(button(f"viper:skip:{number}", "Skip", emoji="⏭️"))
        previous, following = (number - 2) % total + 1, number % total + 1
        if previous != following:
            items.append(button(f"viper:nav:{previous}", "Previous"))
        items.append(button(f"viper:nav:{following}", "Next"))
    items.append(button("viper:done", "Done", discord.ButtonStyle.success, disabled=not can_finish))
    return view(*items)


def review_view(owner: int, profile: Profile) -> discord.ui.View:
    """Looks good, a select menu that removes one feature, and Redo onboarding."""
    options: dict[str, discord.SelectOption] = {}
    for emoji, kind, features in (("👍", "liked", profile.liked), ("👎", "disliked", profile.disliked)):
        for feature in features:
            if feature not in options and 0 < len(feature) <= OPTION_VALUE_MAX:
                options[feature] = discord.SelectOption(label=feature, value=feature, emoji=emoji,
                                                        description=f"Remove from {kind}")
    items = []
    if options:
        items.append(Routed(discord.ui.Select(
            custom_id=f"viper:profile:remove:{owner}", placeholder="Remove a feature that isn't you…",
            min_values=1, max_values=1, options=list(options.values())[:SELECT_OPTIONS_MAX], row=0)))
    items.append(button(f"viper:profile:ok:{owner}", "Looks good", discord.ButtonStyle.success, "✅", row=1))
    items.append(button(f"viper:profile:redo:{owner}", "Redo onboarding", emoji="🔁", row=1))
    return view(*items)


def review(owner: int, profile: Profile | None, header: str = "") -> dict:
    """The profile review message: the lists, a hint, and `review_view`'s components."""
    text = messages.format_profile(profile, ONBOARD_COMMAND[DISCORD])
    if profile is not None:
        text += "\n\n" + messages.profile_hint(DISCORD)
    content = messages.fit("\n".join(part for part in (header, text) if part), 2000)
    return {"content": content, "view": review_view(owner, profile) if profile is not None else None}


def confirm_view(action: str, owner: int) -> discord.ui.View:
    """Yes / no before deleting data (redoing onboarding, forgetting the member)."""
    yes = messages.REDO_YES if action == "redo" else messages.FORGET_YES
    no = messages.REDO_NO[DISCORD] if action == "redo" else messages.FORGET_NO
    return view(button(f"viper:{action}:yes:{owner}", yes, discord.ButtonStyle.danger),
                button(f"viper:{action}:no:{owner}", no))


def cancel_view(job_id: str) -> discord.ui.View | None:
    """The ✖ Cancel button under an /imagine status (None when the job id would not fit a custom_id)."""
    custom_id = f"viper:ic:{job_id}"
    return view(button(custom_id, "Cancel", emoji="✖️")) if len(custom_id) <= 100 else None


class CommentModal(discord.ui.Modal):
    """A paragraph field for one comment; the answer goes to `ViperCog.submit_comment`."""

    def __init__(self, cog, custom_id: str, image_id: str, number: int | None, max_chars: int, earlier: str | None):
        super().__init__(title=f"Your comment on image {number}" if number else "Your comment",
                         timeout=30 * 60, custom_id=custom_id)
        self.cog, self.image_id = cog, image_id
        self.comment = discord.ui.TextInput(
            label="What do you love or dislike, and why?", style=discord.TextStyle.paragraph,
            custom_id=COMMENT_INPUT_ID, placeholder="e.g. love the teal and the flowing lines; the yellow feels harsh",
            max_length=max_chars, required=True,
            default=earlier[:max_chars] if earlier else None,  # editing replaces the earlier comment
        )
        self.add_item(self.comment)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        try:
            await self.cog.submit_comment(interaction, self.image_id, self.comment.value)
        finally:
            self.cog.open_modals.discard(self.custom_id)

    async def on_timeout(self) -> None:
        # A late answer is still accepted: `ViperDiscordBot.on_interaction` answers unknown modals.
        self.cog.open_modals.discard(self.custom_id)


def within(text: str, limit: int) -> str:
    """`text` cut to `limit` characters: whole sentences where they fit, else whole words and "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        if len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}".strip()
    if kept:
        return kept
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


class WhyModal(discord.ui.Modal):
    """💬 Why: a paragraph field for what the member thinks of one of their images.

    Its custom_id carries the job id (`viper:why-modal:<job_id>`), and every answer, from a form this
    process opened or an earlier one, is handled by `ViperDiscordBot.on_interaction`
    (`ViperCog.submit_why`): this object only draws the form.
    """

    def __init__(self, job_id: str, max_chars: int):
        super().__init__(title=within(dict(ACTIONS)["why"], TITLE_MAX), timeout=30 * 60,
                         custom_id=f"{WHY_MODAL_PREFIX}{job_id}")
        self.comment = discord.ui.TextInput(
            label=within(messages.WHY_FORM_LABEL, LABEL_MAX), style=discord.TextStyle.paragraph,
            custom_id=WHY_INPUT_ID, placeholder=within(messages.WHY_FORM_PLACEHOLDER, PLACEHOLDER_MAX),
            max_length=max_chars, required=True,
        )
        self.add_item(self.comment)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Nothing here: `ViperDiscordBot.on_interaction` answers (the same way after a restart)."""


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
