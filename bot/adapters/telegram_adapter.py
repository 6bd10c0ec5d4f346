"""Telegram adapter: python-telegram-bot (v22, asyncio) handlers around the platform-neutral core.

The adapter only translates. Telegram updates become `ViperBot` calls, and the core's answers
become messages, albums, photos and edits. It keeps no state of its own that matters across a
restart: onboarding progress, the gallery messages a member can reply to, and every /imagine job
live in SQLite through the core, so a restarted bot picks up where the last one stopped.

Layout, in the spirit of PTB's conversationbot example: one callback per command, two message
callbacks (replies to gallery images, plain text), and one error handler that logs the exception
and tells the member something friendly. A ConversationHandler is not used on purpose: its state
would live in this process's memory, while ours lives in the store and survives restarts.

Long waits (profile extraction, image generation) run as background tasks
(`Application.create_task`), so one member's /imagine never stalls everybody else's updates.

Public API: `build_application(core, settings, token)` and `run_telegram(core, settings, token, stop)`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import BotCommand, InputMediaPhoto, Message, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes, MessageHandler, filters

from bot import messages
from bot.core import GalleryPage, MemberRef, Update as JobUpdate, ViperBot
from viper.config import Settings
from viper.errors import ViperError

log = logging.getLogger("viper.telegram")

PLATFORM = "telegram"
ADAPTER_KEY = "viper.telegram_adapter"
ONBOARD_COMMAND = "/start"
CAPTION_LIMIT = 1024  # Telegram's limit for photo captions, in characters
TEXT_LIMIT = 4096  # and for message texts
SEND_ATTEMPTS = 3
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]

COMMANDS: list[tuple[str, str]] = [
    ("start", "Build your taste profile: comment on gallery images"),
    ("more", "Show the next page of gallery images"),
    ("done", "Finish onboarding and build your profile"),
    ("profile", "Show what you like and dislike"),
    ("imagine", "Make an image for you: /imagine <prompt>"),
    ("help", "List the commands"),
]

HOW_TO_COMMENT = (
    "To comment, reply to an image (swipe left on it, or long-press and choose Reply) and say what you "
    "love or dislike about it."
)
IMAGINE_USAGE = "Usage: /imagine <prompt>, for example: /imagine a lighthouse at dusk"
RESUMED_LINE = "🎨 I was restarted; picking your image back up…"
DONE_LINE = "✅ Done: your image is below."


def _help_text(min_comments: int) -> str:
    lines = ["Here is what I can do:"]
    lines += [f"/{name}: {about}" for name, about in COMMANDS]
    lines.append(
        f"Start with /start: comment on at least {min_comments} gallery images, send /done, and every "
        "/imagine after that leans towards your taste."
    )
    return "\n".join(lines)


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


class TelegramAdapter:
    """Holds the core and the settings; its bound methods are the PTB callbacks."""

    def __init__(self, core: ViperBot, settings: Settings):
        self.core = core
        self.settings = settings
        self.application: Application | None = None
        self._background: set[asyncio.Task] = set()
        self._finishing: set[str] = set()  # members whose /done is running
        self._file_ids: dict[str, str] = {}  # gallery image id -> Telegram file_id, to avoid re-uploads

    # -- wiring ---------------------------------------------------------------------------------

    def register(self, application: Application) -> None:
        self.application = application
        application.bot_data[ADAPTER_KEY] = self
        new_messages = filters.UpdateType.MESSAGE
        for name, callback in (
            ("start", self.on_start),
            ("more", self.on_more),
            ("done", self.on_done),
            ("profile", self.on_profile),
            ("imagine", self.on_imagine),
            ("help", self.on_help),
        ):
            application.add_handler(CommandHandler(name, callback, filters=new_messages))
        # An edited reply replaces the earlier comment on the same image (the store keeps one per image).
        application.add_handler(MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, self.on_reply))
        application.add_handler(
            MessageHandler(filters.ChatType.PRIVATE & new_messages & filters.TEXT & ~filters.COMMAND, self.on_text)
        )
        unknown = filters.ChatType.PRIVATE & new_messages & filters.COMMAND
        application.add_handler(MessageHandler(unknown, self.on_unknown))
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

    # -- onboarding -----------------------------------------------------------------------------

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        status = await self.core.start_onboarding(_who(update))
        await update.effective_message.reply_text(messages.intro(status, HOW_TO_COMMENT))
        await self._post_page(update.effective_chat.id, status.page)

    async def on_more(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        page = await self.core.next_page(_who(update))
        await self._post_page(update.effective_chat.id, page)

    async def _post_page(self, chat_id: int, page: GalleryPage) -> None:
        """Post a gallery page as one album with numbered captions; remember each photo's image."""
        if not page.images:
            await self.application.bot.send_message(chat_id, "The gallery is empty; ask the operator to add images.")
            return
        try:
            sent = await self._send_album(chat_id, page, use_cache=True)
        except BadRequest as e:
            if not self._file_ids:
                raise
            log.info("re-uploading the gallery after Telegram refused a cached file id: %s", e)
            self._file_ids.clear()
            sent = await self._send_album(chat_id, page, use_cache=False)
        for msg, image in zip(sent, page.images):
            if msg.photo:
                self._file_ids[image.id] = msg.photo[-1].file_id
            await self.core.store.remember_posted_image(PLATFORM, chat_id, msg.message_id, image.id)
        need = self.core.min_comments
        count = await self._count_in_chat(chat_id)
        await self.application.bot.send_message(
            chat_id,
            f"Page {page.page + 1} of {page.pages}. {HOW_TO_COMMENT}\n"
            f"/more shows more images; /done builds your profile once you have {need} comments"
            + (f" (you have {count})." if count is not None else "."),
        )

    async def _count_in_chat(self, chat_id: int) -> int | None:
        # In a private chat the chat id is the member's user id; in groups several people comment.
        member = await self.core.store.find_member(PLATFORM, chat_id) if chat_id > 0 else None
        return await self.core.store.comment_count(member.id) if member else None

    async def _send_album(self, chat_id: int, page: GalleryPage, *, use_cache: bool) -> tuple[Message, ...]:
        def source(image) -> Any:
            cached = self._file_ids.get(image.id) if use_cache else None
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

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        replied = message.reply_to_message
        image_id = await self.core.store.posted_image(PLATFORM, message.chat_id, replied.message_id)
        if image_id is None:
            # In groups people reply to each other all the time: only speak up for replies to the bot.
            from_bot = replied.from_user is not None and replied.from_user.id == context.bot.id
            if message.chat.type == ChatType.PRIVATE or from_bot:
                await message.reply_text(
                    "That message isn't one of the gallery images. " + HOW_TO_COMMENT
                    + f" Use {ONBOARD_COMMAND} or /more to see them."
                )
            return
        count = await self.core.add_comment(_who(update), image_id, message.text)
        await message.reply_text(self.core.comment_ack(count))

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        member = await self.core.store.find_member(PLATFORM, update.effective_user.id)
        state = await self.core.store.onboarding(member.id) if member else None
        if state is not None and state.state == "active":
            count = await self.core.store.comment_count(member.id)
            await update.effective_message.reply_text(
                f"{HOW_TO_COMMENT} A plain message can't tell me which image you mean. "
                f"You have {count} of {self.core.min_comments} comments."
            )
            return
        await update.effective_message.reply_text(
            f"Send /imagine <prompt> to make an image, {ONBOARD_COMMAND} to teach me your taste, or /help."
        )

    async def on_done(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = _who(update)
        count = await self.core.comment_count(who)
        need = self.core.min_comments
        if count < need:
            await update.effective_message.reply_text(
                f"You have {count} of {need} comments so far; comment on {need - count} more "
                f"image{'s' if need - count > 1 else ''} before /done. {HOW_TO_COMMENT}"
            )
            return
        if who.user_id in self._finishing:
            await update.effective_message.reply_text("I'm still analysing your comments; your profile comes soon.")
            return
        await update.effective_message.reply_text(f"Analysing your {count} comments… this can take a minute.")
        self._finishing.add(who.user_id)
        self._spawn(self._finish(who, update.effective_chat.id), update)

    async def _finish(self, who: MemberRef, chat_id: int) -> None:
        bot = self.application.bot
        try:
            profile = await self.core.finish_onboarding(who, {"chat_id": chat_id})
        except ViperError as e:
            await bot.send_message(chat_id, messages.friendly(e))
            return
        finally:
            self._finishing.discard(who.user_id)
        await bot.send_message(
            chat_id,
            _fit(messages.format_profile(profile, ONBOARD_COMMAND) + "\n\nNow try /imagine <prompt>.", TEXT_LIMIT),
        )

    async def on_profile(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        profile = await self.core.profile(_who(update))
        await update.effective_message.reply_text(_fit(messages.format_profile(profile, ONBOARD_COMMAND), TEXT_LIMIT))

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(_help_text(self.core.min_comments))

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text("I don't know that command. /help lists what I can do.")

    # -- imagine --------------------------------------------------------------------------------

    async def on_imagine(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        prompt = _command_argument(message.text)
        if not prompt.strip():
            await message.reply_text(IMAGINE_USAGE)
            return
        chat_id = message.chat_id
        chat_ref = {"chat_id": chat_id, "reply_to": message.message_id}
        submitted = await self.core.submit_imagine(_who(update), prompt, chat_ref)
        text = messages.queued(submitted, ONBOARD_COMMAND)
        status = await message.reply_text(text)
        await self.core.set_chat_ref(submitted.job_id, {**chat_ref, "message_id": status.message_id})
        # The first line is the queue status; what follows (tips, notes) stays under every edit.
        _, _, rest = text.partition("\n")
        footer = "\n" + rest if rest else ""
        self._spawn(
            self._follow(
                submitted.job_id, chat_id, status.message_id, message.message_id, footer, text,
                queued_at=submitted.position,
            ),
            update,
        )

    async def resume_deliveries(self) -> int:
        """Follow again every Telegram /imagine whose image never reached its member; returns how many."""
        pending = await self.core.pending_deliveries(PLATFORM)
        for job in pending:
            chat_id = job.chat_ref.get("chat_id")
            if chat_id is None:
                await self.core.store.update_job(job.id, "failed", error="no chat to deliver to")
                continue
            status_id = job.chat_ref.get("message_id")
            self._spawn(self._resume(job.id, int(chat_id), status_id, job.chat_ref.get("reply_to")))
        if pending:
            log.info("resuming delivery of %d image(s)", len(pending))
        return len(pending)

    async def _resume(self, job_id: str, chat_id: int, status_id: int | None, reply_to: int | None) -> None:
        # We don't know what the status message says now; this line differs from any progress text.
        if status_id is None or not await self._edit(chat_id, int(status_id), RESUMED_LINE):
            status = await self._send(lambda: self.application.bot.send_message(chat_id, RESUMED_LINE))
            if status is None:
                return
            status_id = status.message_id
            await self.core.set_chat_ref(job_id, {"chat_id": chat_id, "reply_to": reply_to, "message_id": status_id})
        await self._follow(job_id, chat_id, int(status_id), reply_to, "", RESUMED_LINE)

    async def _follow(
        self, job_id: str, chat_id: int, status_id: int, reply_to: int | None, footer: str, shown: str,
        *, queued_at: int | None = None,
    ) -> None:
        """Edit the status message while the job waits and runs, then post the image.

        `shown` is what the status message says now; `queued_at` the queue position it announced
        (an update that still says so would only drop the message's extra notes).
        """
        last = {"text": shown}

        async def on_update(job_update: JobUpdate) -> None:
            if job_update.status == "queued" and queued_at is not None and job_update.position == queued_at:
                return
            text = _fit(messages.progress(job_update) + footer, TEXT_LIMIT)
            if text != last["text"] and await self._edit(chat_id, status_id, text):
                last["text"] = text

        try:
            delivery = await self.core.follow(job_id, on_update)
        except ViperError as e:
            log.info("job %s ended without an image: %s", job_id, e)
            text = messages.friendly(e)
            if text != last["text"] and not await self._edit(chat_id, status_id, text):
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
        if last["text"] != DONE_LINE:
            await self._edit(chat_id, status_id, DONE_LINE)

    # -- Telegram calls that must not break a job ------------------------------------------------

    async def _edit(self, chat_id: int, message_id: int, text: str) -> bool:
        """Edit a status message; False when Telegram refused (deleted message, flood limit...)."""
        try:
            await self.application.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
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
