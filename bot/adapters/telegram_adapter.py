"""Telegram adapter: python-telegram-bot (v22, asyncio) handlers around the platform-neutral core.

The adapter only translates. Telegram updates become `ViperBot` calls, and the core's answers
become messages, albums, photos, inline keyboards and edits. It keeps no state of its own that
matters across a restart: onboarding progress (comments, page, the image a member tapped and has
not commented on yet), the gallery messages a member can reply to, and every /imagine job live
in SQLite through the core, so a restarted bot picks up where the last one stopped. What it does
keep in memory is cosmetic: which number keyboard to tick after a comment, and Telegram file ids.

Onboarding happens in the member's private chat. /start posts a two-line intro, a page of the
gallery as an album with numbered captions, and a message with one button per number. A member
comments by replying to an image, or by tapping its number and then typing. In a group, the
onboarding commands answer with a button that opens the private chat (`t.me/<bot>?start=<what>`),
and the private /start carries on with what was asked; /profile is sent privately.

Layout, in the spirit of PTB's conversationbot example: one callback per command, two message
callbacks (replies to gallery images, plain text), one callback for every inline button
(`viper:<action>:...`), and one error handler that logs the exception and tells the member
something friendly. A ConversationHandler is not used on purpose: its state would live in this
process's memory, while ours lives in the store and survives restarts.

Buttons that act on one member's data (profile edits, /redo and /forget confirmations) carry that
member's user id and refuse anybody else's tap; a profile feature is named by its index in the
list plus a short checksum of its text, so the data fits Telegram's 64 bytes and a tap on an
outdated message cannot remove the wrong feature.

Long waits (profile extraction, image generation) run as background tasks
(`Application.create_task`), so one member's /imagine never stalls everybody else's updates.

Public API: `build_application(core, settings, token)` and `run_telegram(core, settings, token, stop)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from telegram import (
    BotCommand, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Message,
    ReplyParameters, Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters,
)

from bot import messages
from bot.core import GalleryPage, MemberRef, OnboardingStatus, Update as JobUpdate, ViperBot
from storage.store import Profile
from viper.contracts.config import Settings
from viper.contracts.errors import InvalidArgument, ViperError

log = logging.getLogger("viper.telegram")

PLATFORM = "telegram"
ADAPTER_KEY = "viper.telegram_adapter"
ONBOARD_COMMAND = "/start"
CAPTION_LIMIT = 1024  # Telegram's limit for photo captions, in characters
TEXT_LIMIT = 4096  # and for message texts
ANSWER_LIMIT = 200  # and for the text of a callback query's answer
SEND_ATTEMPTS = 3
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]

COMMANDS: list[tuple[str, str]] = [
    ("start", "Build your taste profile: comment on gallery images"),
    ("more", "Show the next page of gallery images"),
    ("done", "Finish onboarding and build your profile"),
    ("cancel", "Pause onboarding (your comments are kept)"),
    ("redo", "Start onboarding again from scratch"),
    ("profile", "Show what you like and dislike"),
    ("like", "Add features you like: /like teal, flowing lines"),
    ("dislike", "Add features you dislike: /dislike neon, clutter"),
    ("forget", "Delete everything I store about you"),
    ("imagine", "Make an image for you: /imagine <prompt>"),
    ("help", "List the commands"),
]

# Inline buttons: `viper:<action>[:<owner's user id>...]`; the handler matches the prefix.
BUTTON_PREFIX = "viper"
NUMBERS_PER_ROW = 5
FEATURE_BUTTON_CHARS = 40
MAX_FEATURE_BUTTONS = 40  # Telegram draws at most 100 buttons; the lists are far shorter in practice

# What a private /start does when it arrives through a t.me deep link from a group.
PAYLOAD_ONBOARD = "onboard"
PRIVATE_CHAT_BUTTON = "Open our private chat"

HOW_TO_COMMENT = (
    "To comment, tap an image's number under the album and then type, or reply to the image (swipe left "
    "on it, or long-press and choose Reply), and say what you love or dislike about it."
)
NOT_TEXT = (
    "I only read text. To teach me your taste, describe in words what you like or dislike about a gallery "
    "image (reply to it, or tap its number and type); /imagine <prompt> makes a picture."
)
IMAGINE_USAGE = "Usage: /imagine <prompt>, for example: /imagine a lighthouse at dusk"
RESUMED_LINE = "🎨 I was restarted; picking your image back up…"
DONE_LINE = "✅ Done: your image is below."
PROFILE_HINT = (
    "Does this look like you? Tap ✖ to drop a feature that isn't; /like or /dislike adds (or flips) one in "
    "your own words. Then try /imagine <prompt>."
)
ACCEPTED_LINE = "✅ Saved. Every /imagine now leans your way: try /imagine <prompt>."


def _help_text(min_comments: int) -> str:
    lines = ["Here is what I can do:"]
    lines += [f"/{name}: {about}" for name, about in COMMANDS]
    lines.append(
        f"Start with /start in our private chat: comment on at least {min_comments} gallery images (tap a "
        "number and type, or reply to an image), send /done, and every /imagine after that leans towards "
        "your taste."
    )
    return "\n".join(lines)


def _intro(status: OnboardingStatus, has_profile: bool) -> str:
    """Two lines to open onboarding with; `bot.messages.intro` says more than a chat's first screen wants."""
    n, need = status.comments, status.needed
    so_far = f"{n} of {need} comments" if n < need else f"{n} comments, enough for /done"
    if status.resumed:
        return f"Welcome back! You have {so_far}; let's carry on.\nTap a number below and type, or reply to an image."
    if has_profile and n:
        return (
            f"You already have a taste profile, built from {n} comments: comment on more images and send /done "
            "to sharpen it, or /redo to start from scratch.\nTap a number below and type, or reply to an image."
        )
    return (
        "I'll learn your visual taste, so every image I make for you leans your way.\n"
        f"Comment on at least {need} images that you love or dislike and say why: tap a number below and "
        "type, or reply to an image."
    )


def _who(update: Update) -> MemberRef:
    user = update.effective_user
    if user is None:  # channel posts and the like carry no user; the filters keep them out
        raise ViperError("I can only talk to people, not to channels")
    return MemberRef(PLATFORM, str(user.id), user.full_name or user.username or "")


def _command_argument(text: str | None) -> str:
    """What follows the command word (`/imagine@bot a red fox` -> `a red fox`), newlines kept."""
    parts = (text or "").split(maxsplit=1)
    return parts[1] if len(parts) == 2 else ""


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def _feature_tag(feature: str) -> str:
    """A short checksum of a feature's text, so a button names the feature it was drawn for."""
    return f"{zlib.crc32(feature.encode('utf-8')):08x}"


def _number_keyboard(page: GalleryPage, commented: set[str], pending: str | None) -> InlineKeyboardMarkup:
    """One button per image of the page: ✓ once commented, ✍ on the one being typed about."""
    buttons = []
    for number, image in enumerate(page.images, start=page.first_number):
        label = f"✍ {number}" if image.id == pending else f"{number} ✓" if image.id in commented else str(number)
        buttons.append(InlineKeyboardButton(label, callback_data=f"{BUTTON_PREFIX}:pick:{number}"))
    return InlineKeyboardMarkup([buttons[i : i + NUMBERS_PER_ROW] for i in range(0, len(buttons), NUMBERS_PER_ROW)])


def _profile_view(profile: Profile | None, user_id: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """The lists, with a ✖ button per feature, ✅ to accept and 🔁 to redo onboarding."""
    text = messages.format_profile(profile, ONBOARD_COMMAND)
    if profile is None:
        return _fit(text, TEXT_LIMIT), None
    features = [("l", i, f) for i, f in enumerate(profile.liked)]
    features += [("d", i, f) for i, f in enumerate(profile.disliked)]
    shown = features[:MAX_FEATURE_BUTTONS]
    removes = [
        InlineKeyboardButton(
            _fit(f"✖ {feature}", FEATURE_BUTTON_CHARS),
            callback_data=f"{BUTTON_PREFIX}:rm:{user_id}:{side}{i}:{_feature_tag(feature)}",
        )
        for side, i, feature in shown
    ]
    rows = [removes[i : i + 2] for i in range(0, len(removes), 2)]
    rows.append([
        InlineKeyboardButton("✅ Looks good", callback_data=f"{BUTTON_PREFIX}:ok:{user_id}"),
        InlineKeyboardButton("🔁 Redo onboarding", callback_data=f"{BUTTON_PREFIX}:redo:{user_id}"),
    ])
    hint = PROFILE_HINT
    if len(shown) < len(features):
        hint += f" (The first {len(shown)} features have a button.)"
    return _fit(text, TEXT_LIMIT - len(hint) - 2) + "\n\n" + hint, InlineKeyboardMarkup(rows)


def _cancel_button(user_id: str | None, job_id: str) -> InlineKeyboardMarkup | None:
    """The ✖ Cancel button under an /imagine status message (none if it would not fit Telegram's 64 bytes)."""
    data = f"{BUTTON_PREFIX}:ic:{user_id}:{job_id}"
    if user_id is None or len(data.encode()) > 64:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton("✖ Cancel", callback_data=data)]])


def _yes_no(action: str, user_id: str, yes: str, no: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(yes, callback_data=f"{BUTTON_PREFIX}:{action}-yes:{user_id}"),
        InlineKeyboardButton(no, callback_data=f"{BUTTON_PREFIX}:{action}-no:{user_id}"),
    ]])


@dataclass
class _NumberKeyboard:
    """The last number keyboard a member was shown (kept in memory only: ticking it is cosmetic)."""

    chat_id: int
    message_id: int
    page: int
    markup: dict


class _Answer:
    """Answers one button press, once: early from a handler about to do slow work, or at its end.

    An alert asked for after the press was answered becomes a message, so it is never lost.
    """

    def __init__(self, query: CallbackQuery):
        self.query = query
        self.done = False

    async def __call__(self, text: str | None = None, *, alert: bool = False) -> None:
        try:
            if not self.done:
                self.done = True
                await self.query.answer(_fit(text, ANSWER_LIMIT) if text else None, show_alert=alert)
            elif alert and text and self.query.message is not None:
                await self.query.get_bot().send_message(self.query.message.chat.id, text)
        except TelegramError as e:
            log.info("could not answer a button press: %s", e)


ButtonHandler = Callable[[CallbackQuery, MemberRef, list[str], _Answer], Awaitable[str | None]]


class TelegramAdapter:
    """Holds the core and the settings; its bound methods are the PTB callbacks."""

    def __init__(self, core: ViperBot, settings: Settings):
        self.core = core
        self.settings = settings
        self.application: Application | None = None
        self._background: set[asyncio.Task] = set()
        self._finishing: set[str] = set()  # members whose /done is running
        # Telegram's file ids of gallery images already uploaded (by _file_key), kept in SQLite so a
        # restarted bot does not upload the whole gallery again; loaded at the first album.
        self._file_ids: dict[str, str] | None = None
        self._file_keys: dict[str, str] = {}
        self._numbers: dict[str, _NumberKeyboard] = {}  # user id -> their latest number keyboard
        self._buttons: dict[str, ButtonHandler] = {
            "pick": self._on_pick,
            "ok": self._on_accept,
            "rm": self._on_remove,
            "redo": self._on_redo_button,
            "redo-yes": self._on_redo_yes,
            "redo-no": self._on_redo_no,
            "forget-yes": self._on_forget_yes,
            "forget-no": self._on_forget_no,
            "ic": self._on_image_cancel,
        }
        # What a private /start does with a deep-link payload (anything else starts onboarding).
        self._payloads: dict[str, Callable[[int, MemberRef], Awaitable[None]]] = {
            "done": self._done,
            "redo": self._ask_redo,
            "forget": self._ask_forget,
            "profile": self._send_profile,
        }

    # -- wiring ---------------------------------------------------------------------------------

    def register(self, application: Application) -> None:
        self.application = application
        application.bot_data[ADAPTER_KEY] = self
        new_messages = filters.UpdateType.MESSAGE
        for name, callback in (
            ("start", self.on_start),
            ("more", self.on_more),
            ("done", self.on_done),
            ("cancel", self.on_cancel),
            ("redo", self.on_redo),
            ("profile", self.on_profile),
            ("like", self.on_like),
            ("dislike", self.on_dislike),
            ("forget", self.on_forget),
            ("imagine", self.on_imagine),
            ("help", self.on_help),
        ):
            application.add_handler(CommandHandler(name, callback, filters=new_messages))
        application.add_handler(CallbackQueryHandler(self.on_button, pattern=f"^{BUTTON_PREFIX}:"))
        # An edited reply replaces the earlier comment on the same image (the store keeps one per image).
        application.add_handler(MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, self.on_reply))
        application.add_handler(
            MessageHandler(filters.ChatType.PRIVATE & new_messages & filters.TEXT & ~filters.COMMAND, self.on_text)
        )
        unknown = filters.ChatType.PRIVATE & new_messages & filters.COMMAND
        application.add_handler(MessageHandler(unknown, self.on_unknown))
        # Photos, stickers, voice notes...: say what the bot reads instead of staying silent.
        application.add_handler(
            MessageHandler(filters.ChatType.PRIVATE & new_messages & ~filters.TEXT & ~filters.StatusUpdate.ALL,
                           self.on_not_text)
        )
        application.add_error_handler(self.on_error)

    async def post_init(self, application: Application) -> None:
        """Publish the command list (the menu Telegram shows next to the text field)."""
        try:
            await application.bot.set_my_commands([BotCommand(name, about) for name, about in COMMANDS])
        except TelegramError as e:  # a cosmetic failure must not keep the bot from starting
            log.warning("could not set the command list: %s", e)

    def _spawn(self, coroutine, update: object | None = None) -> asyncio.Task:
        assert self.application is not None
        task = self.application.create_task(coroutine, update=update)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def cancel_background(self) -> None:
        """Stop following jobs (their records stay undelivered, so the next start resumes them)."""
        tasks = [t for t in self._background if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- group chats: onboarding moves to the private chat ----------------------------------------

    def _private_link(self, payload: str) -> InlineKeyboardMarkup:
        url = f"https://t.me/{self.application.bot.username}?start={payload}"
        return InlineKeyboardMarkup([[InlineKeyboardButton(PRIVATE_CHAT_BUTTON, url=url)]])

    async def _to_private(self, update: Update, line: str, payload: str) -> None:
        await update.effective_message.reply_text(line, reply_markup=self._private_link(payload))

    # -- onboarding -----------------------------------------------------------------------------

    def _check_not_finishing(self, who: MemberRef) -> None:
        """One onboarding at a time. The core knows once the extraction job is queued; this covers the
        moment between /done and then."""
        if who.user_id in self._finishing:
            raise InvalidArgument(
                "your taste profile is being built right now; it will arrive in a moment", argument="onboarding"
            )

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not _is_private(update):
            await self._to_private(
                update,
                "Onboarding happens in our private chat, so the gallery doesn't flood this group. "
                "Tap below to open it.",
                PAYLOAD_ONBOARD,
            )
            return
        who, chat_id = _who(update), update.effective_chat.id
        payload = context.args[0] if context.args else ""
        if payload in self._payloads:  # a deep link from a group: carry on with what was asked there
            await self._payloads[payload](chat_id, who)
            return
        self._check_not_finishing(who)
        await self._show_onboarding(chat_id, who, await self.core.start_onboarding(who))

    async def _show_onboarding(self, chat_id: int, who: MemberRef, status: OnboardingStatus) -> None:
        has_profile = await self.core.profile(who) is not None
        await self.application.bot.send_message(chat_id, _intro(status, has_profile))
        await self._post_page(chat_id, who, status.page)

    async def on_more(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not _is_private(update):
            line = "The gallery lives in our private chat: tap below to open it."
            await self._to_private(update, line, PAYLOAD_ONBOARD)
            return
        who = _who(update)
        await self._post_page(update.effective_chat.id, who, await self.core.next_page(who))

    async def _post_page(self, chat_id: int, who: MemberRef, page: GalleryPage) -> None:
        """Post a gallery page as one album with numbered captions, then its number keyboard.

        Each photo's image is remembered, so a reply to it (even after a restart) is a comment on it.
        """
        if not page.images:
            await self.application.bot.send_message(chat_id, "The gallery is empty; ask the operator to add images.")
            return
        if self._file_ids is None:
            self._file_ids = await self.core.store.uploaded_files(PLATFORM)
        try:
            sent = await self._send_album(chat_id, page, use_cache=True)
        except BadRequest as e:
            if not any(self._file_key(image) in self._file_ids for image in page.images):
                raise
            log.info("re-uploading the gallery after Telegram refused a cached file id: %s", e)
            self._file_ids.clear()
            await self.core.store.forget_uploads(PLATFORM)
            sent = await self._send_album(chat_id, page, use_cache=False)
        uploaded = {}
        for msg, image in zip(sent, page.images):
            key = self._file_key(image)
            if msg.photo and self._file_ids.get(key) != msg.photo[-1].file_id:
                uploaded[key] = msg.photo[-1].file_id
            await self.core.store.remember_posted_image(PLATFORM, chat_id, msg.message_id, image.id)
        if uploaded:
            self._file_ids.update(uploaded)
            await self.core.store.remember_uploads(PLATFORM, uploaded)
        need = self.core.min_comments
        count = await self.core.comment_count(who)
        so_far = f"{count} of {need} comments" if count < need else f"{count} comments, enough for /done"
        markup = _number_keyboard(page, *await self._marks(who))
        keyboard = await self.application.bot.send_message(
            chat_id,
            f"Page {page.page + 1} of {page.pages}; you have {so_far}.\n"
            "Tap a number, then type your comment (or reply to an image). "
            "/more shows more images, /done builds your profile, /cancel pauses.",
            reply_markup=markup,
        )
        self._numbers[who.user_id] = _NumberKeyboard(chat_id, keyboard.message_id, page.page, markup.to_dict())

    def _file_key(self, image) -> str:
        """A gallery image named by its content: a rebuilt gallery never reuses an old file id."""
        if image.id not in self._file_keys:
            digest = hashlib.sha256(image.path.read_bytes()).hexdigest()[:20]
            self._file_keys[image.id] = f"gallery:{image.id}:{digest}"
        return self._file_keys[image.id]

    async def _send_album(self, chat_id: int, page: GalleryPage, *, use_cache: bool) -> tuple[Message, ...]:
        def source(image) -> Any:
            cached = (self._file_ids or {}).get(self._file_key(image)) if use_cache else None
            return cached if cached else image.path.read_bytes()

        numbered = list(enumerate(page.images, start=page.first_number))
        if len(numbered) == 1:  # an album needs at least two items
            number, image = numbered[0]
            photo = source(image)
            msg = await self.application.bot.send_photo(
                chat_id, photo, caption=f"#{number}", filename=None if isinstance(photo, str) else image.path.name
            )
            return (msg,)
        media = []
        for number, image in numbered:
            photo = source(image)
            name = None if isinstance(photo, str) else image.path.name
            media.append(InputMediaPhoto(photo, caption=f"#{number}", filename=name))
        return await self.application.bot.send_media_group(chat_id, media)

    async def _marks(self, who: MemberRef) -> tuple[set[str], str | None]:
        """The images the member commented on, and the one they tapped and are typing about."""
        member = await self.core.store.find_member(PLATFORM, who.user_id)
        if member is None:
            return set(), None
        commented = {c.image_id for c in await self.core.store.comments(member.id) if c.image_id}
        pending = await self.core.chosen_image(who)
        return commented, pending.id if pending else None

    async def _tick_numbers(self, who: MemberRef) -> None:
        """Bring the member's latest number keyboard up to date (✓ and ✍), when it changed."""
        keyboard = self._numbers.get(who.user_id)
        if keyboard is None:
            return
        markup = _number_keyboard(self.core.gallery_page(keyboard.page), *await self._marks(who))
        if markup.to_dict() == keyboard.markup:
            return
        if await self._edit_markup(keyboard.chat_id, keyboard.message_id, markup):
            keyboard.markup = markup.to_dict()

    async def _comment(self, message: Message, who: MemberRef, image_id: str, retry: str) -> None:
        """Store `message` as the member's comment on `image_id` and answer with the running count."""
        if who.user_id in self._finishing:
            await message.reply_text(
                "I'm building your profile from the comments you sent; add more once it's ready "
                "(/done again sharpens it)."
            )
            return
        try:
            count = await self.core.add_comment(who, image_id, message.text)
        except InvalidArgument as e:
            if e.argument != "comment":
                raise
            await message.reply_text(f"{messages.friendly(e)} Nothing was saved; {retry}")
            return
        await message.reply_text(self.core.comment_ack(count))
        await self._tick_numbers(who)

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        replied = message.reply_to_message
        image_id = await self.core.store.posted_image(PLATFORM, message.chat_id, replied.message_id)
        if image_id is None and update.message is not None and _is_private(update):
            # A member who tapped a number may well type their comment as a reply to anything.
            pending = await self.core.chosen_image(_who(update))
            image_id = pending.id if pending else None
        if image_id is None:
            # In groups people reply to each other all the time: only speak up for replies to the bot.
            from_bot = replied.from_user is not None and replied.from_user.id == context.bot.id
            if message.chat.type == ChatType.PRIVATE or from_bot:
                await message.reply_text(
                    "That message isn't one of the gallery images. " + HOW_TO_COMMENT
                    + f" Use {ONBOARD_COMMAND} or /more to see them."
                )
            return
        await self._comment(message, _who(update), image_id, "reply to the image again with a shorter comment.")

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = _who(update)
        pending = await self.core.chosen_image(who)
        if pending is not None:
            number = self.core.image_number(pending.id)
            await self._comment(
                update.effective_message, who, pending.id, f"type a shorter one: #{number} is still waiting for it."
            )
            return
        member = await self.core.store.find_member(PLATFORM, who.user_id)
        state = await self.core.store.onboarding(member.id) if member else None
        count = await self.core.store.comment_count(member.id) if member else 0
        if state is not None and state.state == "active":
            await update.effective_message.reply_text(
                "Which image is that about? Tap its number under the album and then type, or reply to an image. "
                f"You have {count} of {self.core.min_comments} comments."
            )
            return
        paused = (
            f"Your onboarding is paused with {_plural(count, 'comment')}; /start continues it. "
            if state is not None and state.state == "paused" else ""
        )
        await update.effective_message.reply_text(
            f"{paused}Send /imagine <prompt> to make an image, {ONBOARD_COMMAND} to teach me your taste, or /help."
        )

    async def on_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = _who(update)
        member = await self.core.store.find_member(PLATFORM, who.user_id)
        state = await self.core.store.onboarding(member.id) if member else None
        if state is None or state.state != "active":
            already = state is not None and state.state == "paused"
            await update.effective_message.reply_text(
                f"Onboarding is already paused; {ONBOARD_COMMAND} continues it." if already
                else f"There is no onboarding to pause; {ONBOARD_COMMAND} begins one."
            )
            return
        count = await self.core.cancel_onboarding(who)
        kept = f"Your {_plural(count, 'comment')} {'is' if count == 1 else 'are'} kept"
        await update.effective_message.reply_text(f"Paused. {kept}; {ONBOARD_COMMAND} to continue where you left off.")
        await self._tick_numbers(who)  # drop the ✍ of a tapped number

    async def on_done(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not _is_private(update):
            line = "Your profile is built in our private chat: tap below and I'll finish there."
            await self._to_private(update, line, "done")
            return
        await self._done(update.effective_chat.id, _who(update))

    async def _done(self, chat_id: int, who: MemberRef) -> None:
        bot = self.application.bot
        count = await self.core.comment_count(who)
        need = self.core.min_comments
        if count < need:
            await bot.send_message(
                chat_id,
                f"You have {count} of {need} comments so far; comment on {need - count} more "
                f"image{'s' if need - count > 1 else ''} before /done. {HOW_TO_COMMENT}",
            )
            return
        if who.user_id in self._finishing:
            await bot.send_message(chat_id, "I'm still analysing your comments; your profile comes soon.")
            return
        await bot.send_message(chat_id, f"Analysing your {count} comments… this can take a minute.")
        self._finishing.add(who.user_id)
        self._spawn(self._finish(who, chat_id))

    async def _finish(self, who: MemberRef, chat_id: int) -> None:
        bot = self.application.bot
        try:
            profile = await self.core.finish_onboarding(who, {"chat_id": chat_id})
        except ViperError as e:
            await bot.send_message(chat_id, messages.friendly(e))
            return
        finally:
            self._finishing.discard(who.user_id)
        self._numbers.pop(who.user_id, None)
        text, markup = _profile_view(profile, who.user_id)
        await bot.send_message(chat_id, text, reply_markup=markup)

    async def on_profile(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = _who(update)
        if _is_private(update):
            await self._send_profile(update.effective_chat.id, who)
            return
        try:  # a member's taste is their own business: it goes to the private chat
            await self._send_profile(int(who.user_id), who)
        except (Forbidden, BadRequest) as e:
            if isinstance(e, BadRequest) and "chat not found" not in e.message.lower():
                raise
            line = "I can't write to you privately until you open our chat: tap below and I'll show your profile there."
            await self._to_private(update, line, "profile")
            return
        await update.effective_message.reply_text("📬 I sent your profile to our private chat.")

    async def on_like(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._add_taste(update, liked=True)

    async def on_dislike(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._add_taste(update, liked=False)

    async def _add_taste(self, update: Update, *, liked: bool) -> None:
        message = update.effective_message
        command = "like" if liked else "dislike"
        text = _command_argument(message.text)
        if not text.strip():
            example = "teal, flowing lines, soft light" if liked else "neon, clutter, harsh shadows"
            await message.reply_text(f"Usage: /{command} <features>, separated by commas, for example: /{command} {example}")
            return
        profile, added = await self.core.add_taste(_who(update), text, liked=liked)
        reply = messages.taste_added(added, liked)
        if _is_private(update):  # a member's whole taste is shown in private only
            reply += "\n\n" + messages.format_profile(profile, ONBOARD_COMMAND)
        await message.reply_text(_fit(reply, TEXT_LIMIT))

    async def _send_profile(self, chat_id: int, who: MemberRef) -> None:
        text, markup = _profile_view(await self.core.profile(who), who.user_id)
        await self.application.bot.send_message(chat_id, text, reply_markup=markup)

    async def on_redo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not _is_private(update):
            await self._to_private(update, "Starting over happens in our private chat: tap below.", "redo")
            return
        await self._ask_redo(update.effective_chat.id, _who(update))

    async def _ask_redo(self, chat_id: int, who: MemberRef) -> None:
        """Starting over deletes the member's comments: ask first, unless there are none."""
        self._check_not_finishing(who)
        count = await self.core.comment_count(who)
        if count == 0:
            await self._show_onboarding(chat_id, who, await self.core.redo_onboarding(who))
            return
        await self.application.bot.send_message(
            chat_id,
            f"Start onboarding over? This deletes your {_plural(count, 'comment')}. A profile you already have "
            "stays until /done builds the new one.",
            reply_markup=_yes_no("redo", who.user_id, "Yes, start over", "No, keep them"),
        )

    async def on_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not _is_private(update):
            line = "Deleting your data is between us: tap below and confirm in our private chat."
            await self._to_private(update, line, "forget")
            return
        await self._ask_forget(update.effective_chat.id, _who(update))

    async def _ask_forget(self, chat_id: int, who: MemberRef) -> None:
        stored = await self._stored_about(who)
        if stored is None:
            await self.application.bot.send_message(chat_id, "I don't store anything about you.")
            return
        await self.application.bot.send_message(
            chat_id,
            f"Delete everything I store about you? That is {stored}. This can't be undone.",
            reply_markup=_yes_no("forget", who.user_id, "Yes, delete everything", "Keep my data"),
        )

    async def _stored_about(self, who: MemberRef) -> str | None:
        """What the store holds about the member, in words; None when it holds nothing."""
        store = self.core.store
        member = await store.find_member(PLATFORM, who.user_id)
        if member is None:
            return None
        parts = []
        profile = await store.profile(member.id)
        if profile is not None:
            parts.append(
                f"your taste profile ({len(profile.liked)} liked and {len(profile.disliked)} disliked features)"
            )
        count = await store.comment_count(member.id)
        if count:
            parts.append(f"your {_plural(count, 'onboarding comment')}")
        if await store.onboarding(member.id) is not None:
            parts.append("your place in the gallery")
        parts.append("the record of your /imagine requests")
        parts.append(f"your name ({member.display_name})" if member.display_name else "your Telegram user id")
        return _joined(parts)

    async def _forget_gallery_messages(self, chat_id: int) -> None:
        """Drop which gallery images were posted in the member's private chat (its id is theirs).

        `Store.forget_member` cascades over everything keyed by the member, not over this table,
        which is keyed by chat.
        """
        await self.core.store.forget_chat(PLATFORM, chat_id)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(_help_text(self.core.min_comments))

    async def on_not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(NOT_TEXT)

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text("I don't know that command. /help lists what I can do.")

    # -- inline buttons -------------------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every `viper:` button: check who pressed it, run its action, answer the query once."""
        query = update.callback_query
        _, _, rest = (query.data or "").partition(":")
        action, *args = rest.split(":")
        handler = self._buttons.get(action)
        answer = _Answer(query)
        note, alert = None, False
        try:
            if handler is None:
                note = "That button no longer does anything; /help lists what I can do."
            elif action != "pick" and (not args or args[0] != str(query.from_user.id)):
                note, alert = "These buttons belong to someone else.", True
            else:
                note = await handler(query, _who(update), args, answer)
        except ViperError as e:
            note, alert = messages.friendly(e), True
        finally:  # answered even when the handler broke, so the button stops spinning
            await answer(note, alert=alert)

    @staticmethod
    def _query_chat(query: CallbackQuery) -> int:
        return query.message.chat.id if query.message is not None else query.from_user.id

    async def _edit_query(self, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Replace the text (and buttons) of the message whose button was pressed.

        A message Telegram no longer lets us edit (too old, deleted) gets a new message instead.
        """
        message = query.message
        if isinstance(message, Message):
            if message.text == text and message.reply_markup == markup:
                return
            try:
                await query.edit_message_text(text, reply_markup=markup)
                return
            except BadRequest as e:
                if "not modified" in e.message.lower():
                    return
                log.info("could not edit the message of a button: %s", e)
        await self.application.bot.send_message(self._query_chat(query), text, reply_markup=markup)

    async def _on_pick(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> None:
        """A number under the album: the member's next message is their comment on that image."""
        number = int(args[0]) if args and args[0].isdigit() else 0
        self._check_not_finishing(who)
        image = await self.core.choose_image(who, number)  # a paused or finished onboarding carries on
        await answer(f"#{number}: now type your comment")
        chat_id = self._query_chat(query)
        earlier = (await self.core.comments(who)).get(image.id)
        text = f"Now type your comment on #{number}: what do you love or dislike about it, and why?"
        if earlier:
            text += f"\nIt replaces what you said before: “{_fit(earlier, 300)}”"
        prompt = await self.application.bot.send_message(chat_id, text)
        # A reply to this prompt is a comment on the image too.
        await self.core.store.remember_posted_image(PLATFORM, chat_id, prompt.message_id, image.id)
        message = query.message
        if isinstance(message, Message) and message.reply_markup is not None:
            page = (number - 1) // self.settings.bot.gallery_page_size
            shown = message.reply_markup.to_dict()
            self._numbers[who.user_id] = _NumberKeyboard(chat_id, message.message_id, page, shown)
            await self._tick_numbers(who)

    async def _on_accept(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> str:
        profile = await self.core.profile(who)
        if profile is None:
            await self._edit_query(query, messages.format_profile(None, ONBOARD_COMMAND))
            return "You have no profile any more."
        text = _fit(messages.format_profile(profile, ONBOARD_COMMAND), TEXT_LIMIT - len(ACCEPTED_LINE) - 2)
        await self._edit_query(query, f"{text}\n\n{ACCEPTED_LINE}")
        return "Saved"

    async def _on_remove(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> str:
        """✖ under a feature: drop it, and draw the lists again (indices shift after a removal)."""
        profile = await self.core.profile(who)
        where, tag = (args[1], args[2]) if len(args) == 3 else ("", "")
        side, index = where[:1], where[1:]
        features = (profile.liked if side == "l" else profile.disliked if side == "d" else []) if profile else []
        feature = features[int(index)] if index.isdigit() and int(index) < len(features) else None
        if feature is None or _feature_tag(feature) != tag:
            await self._edit_query(query, *_profile_view(profile, who.user_id))
            return "Your profile changed since this message; here it is as it is now."
        profile = await self.core.remove_feature(who, feature)
        await self._edit_query(query, *_profile_view(profile, who.user_id))
        return _fit(f"Removed “{feature}”", ANSWER_LIMIT)

    async def _on_redo_button(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> None:
        self._check_not_finishing(who)
        await answer()
        await self._ask_redo(self._query_chat(query), who)

    async def _on_redo_yes(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> None:
        self._check_not_finishing(who)
        status = await self.core.redo_onboarding(who)
        await answer("Starting over")
        await self._edit_query(query, "Starting over: your earlier comments are deleted.")
        await self._show_onboarding(self._query_chat(query), who, status)

    async def _on_redo_no(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> None:
        count = await self.core.comment_count(who)
        kept = f"{_plural(count, 'comment')} {'is' if count == 1 else 'are'} kept"
        await self._edit_query(query, f"Nothing changed: your {kept}.")

    async def _on_forget_yes(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> str:
        stored = await self._stored_about(who)
        if stored is None or not await self.core.forget(who):
            await self._edit_query(query, "There was nothing left to delete.")
            return "Nothing to delete"
        await self._forget_gallery_messages(int(who.user_id))
        self._numbers.pop(who.user_id, None)
        await self._edit_query(
            query,
            f"Deleted {stored}. I know nothing about you now; {ONBOARD_COMMAND} whenever you want to teach me "
            "your taste again.",
        )
        return "Deleted"

    async def _on_forget_no(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> None:
        await self._edit_query(query, "Kept: nothing was deleted.")

    # -- imagine --------------------------------------------------------------------------------

    async def on_imagine(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        prompt = _command_argument(message.text)
        if not prompt.strip():
            await message.reply_text(IMAGINE_USAGE)
            return
        chat_id = message.chat_id
        who = _who(update)
        chat_ref = {"chat_id": chat_id, "reply_to": message.message_id, "user_id": who.user_id}
        try:
            submitted = await self.core.submit_imagine(who, prompt, chat_ref)
        except InvalidArgument as e:
            if e.argument != "profile":  # [bot] require_profile: say how to get one
                raise
            private = _is_private(update)
            await message.reply_text(
                f"{messages.friendly(e)} Here I only paint for members whose taste I know: {ONBOARD_COMMAND} "
                f"{'teaches' if private else 'in our private chat teaches'} me yours in about five minutes.",
                reply_markup=None if private else self._private_link(PAYLOAD_ONBOARD),
            )
            return
        text = messages.queued(submitted, ONBOARD_COMMAND)
        cancel = _cancel_button(who.user_id, submitted.job_id)
        status = await message.reply_text(text, reply_markup=cancel)
        await self.core.set_chat_ref(submitted.job_id, {"message_id": status.message_id})
        # The first line is the queue status; what follows (tips, notes) stays under every edit.
        _, _, rest = text.partition("\n")
        footer = "\n" + rest if rest else ""
        self._spawn(
            self._follow(
                submitted.job_id, chat_id, status.message_id, message.message_id, footer, text,
                queued_at=submitted.position, cancel=cancel,
            ),
            update,
        )

    async def _on_image_cancel(self, query: CallbackQuery, who: MemberRef, args: list[str], answer: _Answer) -> str:
        """✖ Cancel under a status message: the job is dropped or stopped; its follower edits the message."""
        job_id = args[1] if len(args) > 1 else ""
        return messages.cancel_answer(await self.core.cancel_image(who, job_id))

    async def resume_deliveries(self) -> int:
        """Follow again every Telegram /imagine whose image never reached its member; returns how many."""
        pending = await self.core.pending_deliveries(PLATFORM)
        for job in pending:
            chat_id = job.chat_ref.get("chat_id")
            if chat_id is None:
                await self.core.store.update_job(job.id, "failed", error="no chat to deliver to")
                continue
            status_id = job.chat_ref.get("message_id")
            cancel = _cancel_button(job.chat_ref.get("user_id"), job.id)
            self._spawn(self._resume(job.id, int(chat_id), status_id, job.chat_ref.get("reply_to"), cancel))
        if pending:
            log.info("resuming delivery of %d image(s)", len(pending))
        return len(pending)

    async def _resume(
        self, job_id: str, chat_id: int, status_id: int | None, reply_to: int | None,
        cancel: InlineKeyboardMarkup | None = None,
    ) -> None:
        # We don't know what the status message says now; this line differs from any progress text.
        if status_id is None or not await self._edit(chat_id, int(status_id), RESUMED_LINE, cancel):
            status = await self._send(
                lambda: self.application.bot.send_message(chat_id, RESUMED_LINE, reply_markup=cancel)
            )
            if status is None:
                return
            status_id = status.message_id
            await self.core.set_chat_ref(job_id, {"message_id": status_id})
        await self._follow(job_id, chat_id, int(status_id), reply_to, "", RESUMED_LINE, cancel=cancel)

    async def _follow(
        self, job_id: str, chat_id: int, status_id: int, reply_to: int | None, footer: str, shown: str,
        *, queued_at: int | None = None, cancel: InlineKeyboardMarkup | None = None,
    ) -> None:
        """Edit the status message while the job waits and runs, then post the image.

        `shown` is what the status message says now; `queued_at` the queue position it announced
        (an update that still says so would only drop the message's extra notes). `cancel` is the
        button kept under the message while the job can still be stopped; the final edit drops it.
        """
        last = {"text": shown}

        async def on_update(job_update: JobUpdate) -> None:
            if job_update.status == "queued" and queued_at is not None and job_update.position == queued_at:
                return
            text = _fit(messages.progress(job_update) + footer, TEXT_LIMIT)
            if text != last["text"] and await self._edit(chat_id, status_id, text, cancel):
                last["text"] = text

        try:
            delivery = await self.core.follow(job_id, on_update)
        except ViperError as e:
            log.info("job %s ended without an image: %s", job_id, e)
            text = messages.friendly(e)
            if (text != last["text"] or cancel is not None) and not await self._edit(chat_id, status_id, text):
                await self._send(lambda: self.application.bot.send_message(chat_id, text))
            return

        caption = "\n\n".join([delivery.caption, *delivery.notes])
        overflow: list[str] = []
        if len(caption) > CAPTION_LIMIT:
            caption, overflow = _fit(delivery.caption, CAPTION_LIMIT), delivery.notes
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        png = delivery.result.png
        try:
            sent = await self._send(
                lambda: self.application.bot.send_photo(
                    chat_id, png, caption=caption, filename="viper.png", reply_parameters=reply
                ),
                raise_final=True,
            )
        except (Forbidden, BadRequest) as e:  # blocked, chat gone: retrying at every restart won't help
            log.warning("cannot deliver job %s to chat %s: %s", job_id, chat_id, e)
            await self.core.store.update_job(job_id, "failed", error=f"telegram refused the photo: {e}")
            return
        if sent is None:  # network trouble: the record stays 'done', the next start retries
            return
        await self.core.delivered(job_id)
        for note in overflow:
            await self._send(lambda note=note: self.application.bot.send_message(chat_id, _fit(note, TEXT_LIMIT)))
        if last["text"] != DONE_LINE or cancel is not None:
            await self._edit(chat_id, status_id, DONE_LINE)

    # -- Telegram calls that must not break a job ------------------------------------------------

    async def _edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> bool:
        """Edit a status message (and its buttons: none unless given); False when Telegram refused
        (deleted message, flood limit...)."""
        try:
            await self.application.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
            return True
        except RetryAfter as e:  # progress is best effort: skip this edit, the next one will catch up
            log.debug("skipping a status edit: flood control for %s s", e.retry_after)
        except BadRequest as e:
            if "not modified" in e.message.lower():  # it already says this
                return True
            log.debug("status edit refused: %s", e)
        except TelegramError as e:
            log.info("status edit failed: %s", e)
        return False

    async def _edit_markup(self, chat_id: int, message_id: int, markup: InlineKeyboardMarkup | None) -> bool:
        """Change the buttons under a message; False when Telegram refused (the keyboard is cosmetic)."""
        try:
            await self.application.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
            return True
        except BadRequest as e:
            if "not modified" in e.message.lower():
                return True
            log.debug("keyboard edit refused: %s", e)
        except TelegramError as e:
            log.info("keyboard edit failed: %s", e)
        return False

    async def _send(self, call, *, raise_final: bool = False) -> Any:
        """Run a sending call, waiting out flood limits and retrying network errors a few times."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await call()
            except RetryAfter as e:
                wait = e.retry_after  # seconds, or a timedelta when PTB_TIMEDELTA is set
                delay = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
                await asyncio.sleep(delay)
            except (Forbidden, BadRequest):
                if raise_final:
                    raise
                log.warning("Telegram refused a message", exc_info=True)
                return None
            except NetworkError as e:
                log.info("network error while sending (attempt %d): %s", attempt, e)
                await asyncio.sleep(attempt)
        return None

    # -- errors ---------------------------------------------------------------------------------

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log every error; tell the member a friendly sentence when there is a chat to answer."""
        err = context.error
        if isinstance(err, ViperError):
            log.info("%s: %s", type(err).__name__, err.message)
        else:
            log.error("error while handling an update", exc_info=err)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            return
        try:
            await context.bot.send_message(chat.id, messages.friendly(err))
        except TelegramError as e:
            log.warning("could not tell chat %s about the error: %s", chat.id, e)


def _file_url_for(base_url: str) -> str:
    """The file URL of a Bot API server given as `.../bot` (or `.../bot{token}`): `.../file/bot`."""
    root, sep, tail = base_url.rstrip("/").rpartition("/bot")
    if not sep or tail not in ("", "{token}"):
        return ""
    return f"{root}/file/bot{tail}"


def build_application(core: ViperBot, settings: Settings, token: str) -> Application:
    """A PTB Application wired to `core`: handlers, error handler, command list in post_init.

    `settings.telegram.api_base_url` / `api_base_file_url` point it at a self-hosted Bot API server
    (for example `http://localhost:8081/bot`; a `{token}` placeholder is allowed, otherwise the token
    is appended). Without a file URL, one ending in `/bot` gets the matching `/file/bot`.
    """
    if not token:
        raise ViperError(messages.TOKEN_HELP["telegram"])
    adapter = TelegramAdapter(core, settings)
    builder = ApplicationBuilder().token(token).post_init(adapter.post_init)
    base_url = settings.telegram.api_base_url
    file_url = settings.telegram.api_base_file_url or _file_url_for(base_url)
    if base_url:
        builder = builder.base_url(base_url)
    if file_url:
        builder = builder.base_file_url(file_url)
    application = builder.build()
    adapter.register(application)
    return application


def adapter_of(application: Application) -> TelegramAdapter:
    return application.bot_data[ADAPTER_KEY]


async def run_telegram(core: ViperBot, settings: Settings, token: str, stop: asyncio.Event) -> None:
    """Poll Telegram until `stop` is set, then shut down cleanly.

    Jobs still being followed at that moment are left undelivered in the store; the next start
    resumes them.
    """
    application = build_application(core, settings, token)
    adapter = adapter_of(application)
    await application.initialize()
    try:
        if application.post_init is not None:  # run_polling would call it; we drive the lifecycle ourselves
            await application.post_init(application)
        await application.start()
        await application.updater.start_polling(drop_pending_updates=False, allowed_updates=ALLOWED_UPDATES)
        me = application.bot.username
        log.info("Telegram bot @%s is polling", me)
        await adapter.resume_deliveries()
        await stop.wait()
    finally:
        await adapter.cancel_background()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
