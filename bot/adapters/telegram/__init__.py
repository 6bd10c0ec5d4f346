"""Telegram adapter: python-telegram-bot (v22, asyncio) around the platform-neutral core.

- `handlers`: commands, messages and imported files -> core calls; `buttons`: one CallbackQueryHandler
  per action;
- `keyboards`: inline keyboards and their callback data (`keyboards.rows` draws the core's buttons);
  `port`: the `JobOutput` of one /imagine (the photo with its action buttons, behind a spoiler when
  the core says so); `servers`: each update's `Place`, group admins, `[telegram] allowed_chats`, /admin.
Public API: `build_application(core, settings, token)` and `run_telegram(core, settings, token, stop)`.

A ConversationHandler is not used on purpose: its state would live in this process's memory, while
ours lives in SQLite and survives restarts. Long waits run as background tasks, so one member's
/imagine never stalls everybody else's updates.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import BotCommand, BotCommandScopeAllChatAdministrators, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, CommandHandler, MessageHandler, TypeHandler, filters

from bot import messages
from bot.adapters.telegram.buttons import TelegramButtons
from bot.adapters.telegram.handlers import IMPORT_CAPTION, TelegramHandlers
from bot.commands import TELEGRAM, for_platform
from bot.core import ViperBot
from viper.contracts.config import Settings
from viper.contracts.errors import TokenRefused, ViperError

log = logging.getLogger("viper.telegram")

ADAPTER_KEY = "viper.telegram_adapter"
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, WRITE_TIMEOUT_S, MEDIA_WRITE_TIMEOUT_S = 10.0, 30.0, 30.0, 60.0
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]


def register(application: Application, handlers: TelegramHandlers) -> None:
    application.bot_data[ADAPTER_KEY] = handlers
    # First, before every other group: groups left out of `[telegram] allowed_chats` stop here.
    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    new_messages = filters.UpdateType.MESSAGE
    for entry in for_platform(TELEGRAM):
        application.add_handler(CommandHandler(entry.name, getattr(handlers, f"on_{entry.name}"), filters=new_messages))
    TelegramButtons(handlers).register(application)
    # An edited reply replaces the earlier comment on the same image (the store keeps one per image).
    application.add_handler(MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, handlers.on_reply))
    private = filters.ChatType.PRIVATE & new_messages
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, handlers.on_text))
    application.add_handler(MessageHandler(private & filters.COMMAND, handlers.on_unknown))
    # `/profile import` is the caption of the file to import (a caption is no command to PTB).
    application.add_handler(MessageHandler(
        new_messages & filters.Document.ALL & filters.CaptionRegex(IMPORT_CAPTION), handlers.on_import_file))
    application.add_handler(MessageHandler(private & filters.Document.FileExtension("json"), handlers.on_loose_file))
    # Photos, stickers, voice notes...: say what the bot reads instead of staying silent.
    application.add_handler(MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, handlers.on_not_text))
    application.add_error_handler(handlers.on_error)


async def post_init(application: Application) -> None:
    """Publish the command list (the menu Telegram shows next to the text field): /admin only in
    the menu of group administrators (Telegram shows the most specific scope's list, so theirs is
    the whole catalogue)."""
    handlers: TelegramHandlers = application.bot_data[ADAPTER_KEY]
    handlers.bot = application.bot
    commands = for_platform(TELEGRAM)
    everything = [BotCommand(c.name, c.description) for c in commands]
    try:
        await application.bot.set_my_commands([BotCommand(c.name, c.description) for c in commands if not c.for_admins])
        await application.bot.set_my_commands(everything, scope=BotCommandScopeAllChatAdministrators())
    except TelegramError as e:  # a cosmetic failure must not keep the bot from starting
        log.warning("could not set the command list: %s", e)


def _file_url_for(base_url: str) -> str:
    """The file URL of a Bot API server given as `.../bot` (or `.../bot{token}`): `.../file/bot`."""
    root, sep, tail = base_url.rstrip("/").rpartition("/bot")
    if not sep or tail not in ("", "{token}"):
        return ""
    return f"{root}/file/bot{tail}"


def build_application(core: ViperBot, settings: Settings, token: str) -> Application:
    """A PTB Application wired to `core`. `[telegram] api_base_url` / `api_base_file_url` point it at
    a self-hosted Bot API server (a `{token}` placeholder is allowed, otherwise the token is appended;
    without a file URL, one ending in `/bot` gets the matching `/file/bot`)."""
    if not token:
        raise ViperError(messages.TOKEN_HELP[TELEGRAM])
    # Uploads get time to travel (PTB's defaults give a photo 20 s to go and 5 s for the answer):
    # a slow answer must not make us send the same photo again.
    builder = (
        ApplicationBuilder().token(token).post_init(post_init)
        .connect_timeout(CONNECT_TIMEOUT_S).read_timeout(READ_TIMEOUT_S).write_timeout(WRITE_TIMEOUT_S)
        .media_write_timeout(MEDIA_WRITE_TIMEOUT_S)
    )
    base_url = settings.telegram.api_base_url
    file_url = settings.telegram.api_base_file_url or _file_url_for(base_url)
    if base_url:
        builder = builder.base_url(base_url)
    if file_url:
        builder = builder.base_file_url(file_url)
    application = builder.build()
    register(application, TelegramHandlers(core, settings))
    return application


def adapter_of(application: Application) -> TelegramHandlers:
    return application.bot_data[ADAPTER_KEY]


async def run_telegram(core: ViperBot, settings: Settings, token: str, stop: asyncio.Event) -> None:
    """Poll Telegram until `stop` is set, then shut down cleanly. Jobs still being followed then stay
    undelivered in the store; the next start resumes them. A refused token raises `TokenRefused`."""
    application = build_application(core, settings, token)
    handlers = adapter_of(application)
    try:
        await application.initialize()
    except InvalidToken as e:
        raise TokenRefused(messages.token_refused(TELEGRAM, str(e)), argument="TELEGRAM_TOKEN") from e
    try:
        await post_init(application)  # run_polling would call it; we drive the lifecycle ourselves
        await application.start()
        await application.updater.start_polling(drop_pending_updates=False, allowed_updates=ALLOWED_UPDATES)
        log.info("Telegram bot @%s is polling", application.bot.username)
        await handlers.resume_deliveries()
        await stop.wait()
    finally:
        await handlers.tasks.stop()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
