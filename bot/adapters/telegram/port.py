"""Telegram calls that must not break a flow, and the `JobOutput` port for one /imagine's chat."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import messages
from bot.adapters.telegram import keyboards
from bot.commands import TELEGRAM
from bot.core.ports import DeliveryRefused
from bot.core.types import Delivery, Posted
from storage.store import Profile

log = logging.getLogger("viper.telegram")

CAPTION_LIMIT = 1024  # Telegram's limit for photo captions, in characters
TEXT_LIMIT = 4096  # and for message texts
SEND_ATTEMPTS = 3
TIMED_OUT = object()  # what `send` returns for a call that may or may not have reached the member


async def edit(bot: Bot, chat_id: int, message_id: int, text: str | None, markup: InlineKeyboardMarkup | None = None) -> bool:
    """Edit a message's text and buttons (`text` None: its buttons only; no markup: none); False
    when Telegram refused (flood control, a deleted message): edits are best effort."""
    try:
        where = {"chat_id": chat_id, "message_id": message_id, "reply_markup": markup}
        await (bot.edit_message_reply_markup(**where) if text is None else bot.edit_message_text(text, **where))
        return True
    except BadRequest as e:
        if "not modified" in e.message.lower():  # it already says this
            return True
        log.debug("edit refused: %s", e)
    except TelegramError as e:  # RetryAfter too: skip this edit, the next one will catch up
        log.info("edit failed: %s", e)
    return False


async def send(call, *, raise_final: bool = False) -> Any:
    """Run a sending call, waiting out flood limits and retrying network errors a few times.

    A call that timed out waiting for Telegram's answer is not retried: Telegram may well have
    done it, and a member would get the same message twice. It returns `TIMED_OUT`.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await call()
        except TimedOut as e:
            log.warning("Telegram did not answer in time; not sending again: %s", e)
            return TIMED_OUT
        except RetryAfter as e:
            wait = e.retry_after  # seconds, or a timedelta when PTB_TIMEDELTA is set
            await asyncio.sleep(wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait))
        except (Forbidden, BadRequest):
            if raise_final:
                raise
            log.warning("Telegram refused a message", exc_info=True)
            return None
        except NetworkError as e:
            log.info("network error while sending (attempt %d): %s", attempt, e)
            await asyncio.sleep(attempt)
    return None


class TelegramJobOutput:
    """Where one /imagine is followed: its chat, its status message and the member's message."""

    done_line = messages.DONE_LINE[TELEGRAM]

    def __init__(self, bot: Bot, chat_id: int, status_id: int | None, reply_to: int | None,
                 cancel: InlineKeyboardMarkup | None, on_status_sent=None, user_id: str | None = None):
        self.bot, self.chat_id, self.status_id, self.reply_to = bot, chat_id, status_id, reply_to
        self.user_id = user_id or chat_id  # a member's private chat has their user id
        self.cancel = cancel
        self.on_status_sent = on_status_sent  # called with the id of a status message sent anew

    async def status(self, text: str, *, final: bool = False) -> bool:
        if self.status_id is None:
            return False if final else await self.new_status(text)
        markup = None if final else self.cancel
        return await edit(self.bot, self.chat_id, self.status_id, messages.fit(text, TEXT_LIMIT), markup)

    async def new_status(self, text: str) -> bool:
        sent = await send(lambda: self.bot.send_message(self.chat_id, messages.fit(text, TEXT_LIMIT), reply_markup=self.cancel))
        if sent is None or sent is TIMED_OUT:
            return False
        self.status_id = sent.message_id
        if self.on_status_sent is not None:
            await self.on_status_sent(sent.message_id)
        return True

    async def profile_ready(self, profile: Profile) -> None:
        text, markup = keyboards.profile_view(profile, str(self.user_id))
        await send(lambda: self.bot.send_message(self.chat_id, text, reply_markup=markup))

    async def text(self, text: str) -> None:
        await send(lambda: self.bot.send_message(self.chat_id, messages.fit(text, TEXT_LIMIT)))

    async def image(self, delivery: Delivery) -> Posted | bool:
        """The photo with its caption and the action buttons under it, behind a spoiler when the core
        says so (the safety check flagged it and `[moderation] nsfw_policy` is "spoiler"); where it
        landed (message id "" when Telegram's answer timed out: it most likely arrived, but replies
        to it can't be told)."""
        caption = "\n\n".join([delivery.caption, *delivery.notes])
        overflow: list[str] = []
        if len(caption) > CAPTION_LIMIT:
            caption, overflow = messages.fit(delivery.caption, CAPTION_LIMIT), delivery.notes
        reply = ReplyParameters(self.reply_to, allow_sending_without_reply=True) if self.reply_to else None
        png = delivery.result.png
        markup = keyboards.rows(delivery.rows)
        spoiler = True if delivery.spoiler else None
        try:
            sent = await send(
                lambda: self.bot.send_photo(self.chat_id, png, caption=caption, filename="viper.png",
                                            reply_parameters=reply, reply_markup=markup, has_spoiler=spoiler),
                raise_final=True,
            )
        except (Forbidden, BadRequest) as e:  # blocked, chat gone: retrying at every restart won't help
            raise DeliveryRefused(f"telegram refused the photo in chat {self.chat_id}: {e}") from e
        if sent is None:
            return False  # never sent (network down, flood limits): the next start retries
        # A photo whose answer timed out most likely arrived: it counts as delivered, so neither this
        # run nor the next one sends a second copy.
        for note in overflow:
            await self.text(note)
        return Posted(str(self.chat_id), "" if sent is TIMED_OUT else str(sent.message_id))
