"""Inline keyboards and their callback data (`viper:<action>:<owner's user id>:...`, at most 64 bytes).

A profile feature is named by its index in the list plus a short checksum of its text, so a tap on
an outdated message cannot remove the wrong feature. Buttons the core makes (`bot.core.types.Button`:
the actions under an image, Undo, /settings) are drawn by `rows`, the one renderer of core `Rows`.
"""

from __future__ import annotations

import zlib

from telegram import InlineKeyboardButton as Button
from telegram import InlineKeyboardMarkup as Markup

from bot import messages
from bot.commands import ONBOARD_COMMAND, TELEGRAM
from bot.core.types import GalleryPage, PageMarks, Rows
from storage.store import Profile

PREFIX = "viper"
NUMBERS_PER_ROW = 5
FEATURE_BUTTON_CHARS = 40
MAX_FEATURE_BUTTONS = 40  # Telegram draws at most 100 buttons; the lists are far shorter in practice
TEXT_LIMIT = 4096  # Telegram's limit for message texts


def rows(core_rows: Rows) -> Markup | None:
    """Core buttons as an inline keyboard (callback data = `Button.data`); None when there are none."""
    drawn = [[Button(b.label, callback_data=b.data) for b in row] for row in core_rows]
    drawn = [row for row in drawn if row]
    return Markup(drawn) if drawn else None


def feature_tag(feature: str) -> str:
    """A short checksum of a feature's text, so a button names the feature it was drawn for."""
    return f"{zlib.crc32(feature.encode('utf-8')):08x}"


def numbers(page: GalleryPage, marks: PageMarks) -> Markup:
    """One button per image of the page: ✓ once commented, ✍ on the one being typed about."""
    buttons = []
    for number, image in enumerate(page.images, start=page.first_number):
        label = f"✍ {number}" if image.id == marks.pending else f"{number} ✓" if image.id in marks.commented else str(number)
        buttons.append(Button(label, callback_data=f"{PREFIX}:pick:{number}"))
    return Markup([buttons[i : i + NUMBERS_PER_ROW] for i in range(0, len(buttons), NUMBERS_PER_ROW)])


def profile_view(profile: Profile | None, user_id: str) -> tuple[str, Markup | None]:
    """The lists, with a ✖ button per feature, ✅ to accept and 🔁 to redo onboarding."""
    text = messages.format_profile(profile, ONBOARD_COMMAND[TELEGRAM])
    if profile is None:
        return messages.fit(text, TEXT_LIMIT), None
    features = [("l", i, f) for i, f in enumerate(profile.liked)] + [("d", i, f) for i, f in enumerate(profile.disliked)]
    shown = features[:MAX_FEATURE_BUTTONS]
    removes = [
        Button(messages.fit(f"✖ {feature}", FEATURE_BUTTON_CHARS),
               callback_data=f"{PREFIX}:rm:{user_id}:{side}{i}:{feature_tag(feature)}")
        for side, i, feature in shown
    ]
    rows = [removes[i : i + 2] for i in range(0, len(removes), 2)]
    rows.append([
        Button("✅ Looks good", callback_data=f"{PREFIX}:ok:{user_id}"),
        Button("🔁 Redo onboarding", callback_data=f"{PREFIX}:redo:{user_id}"),
    ])
    hint = messages.profile_hint(TELEGRAM)
    if len(shown) < len(features):
        hint += messages.some_have_buttons(len(shown))
    return messages.fit(text, TEXT_LIMIT - len(hint) - 2) + "\n\n" + hint, Markup(rows)


def cancel(user_id: str | None, job_id: str) -> Markup | None:
    """The ✖ Cancel button under an /imagine status message (none if it would not fit in 64 bytes)."""
    data = f"{PREFIX}:ic:{user_id}:{job_id}"
    if user_id is None or len(data.encode()) > 64:
        return None
    return Markup([[Button("✖ Cancel", callback_data=data)]])


def yes_no(action: str, user_id: str, yes: str, no: str) -> Markup:
    return Markup([[
        Button(yes, callback_data=f"{PREFIX}:{action}-yes:{user_id}"),
        Button(no, callback_data=f"{PREFIX}:{action}-no:{user_id}"),
    ]])


def private_link(bot_username: str, payload: str) -> Markup:
    url = f"https://t.me/{bot_username}?start={payload}"
    return Markup([[Button(messages.PRIVATE_CHAT_BUTTON, url=url)]])
