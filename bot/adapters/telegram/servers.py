"""Busy groups on Telegram: where an update comes from, who may administer a group, which
groups are served, and how `/admin`'s words map to the core's admin controls.

- `Places.place` builds the core's `Place` for an update: the group is the scope (none in a private
  chat), the channel is the group itself or, in a forum supergroup, the topic the message is in
  (`<chat id>/<topic id>`), so `/admin channels here` can keep /imagine to one topic. A member is an
  admin when their id is in `[telegram] admin_ids`, or when Telegram says they are the group's
  creator or an administrator (`getChatMember`, remembered for `ADMIN_TTL_S` per group and member so
  a busy group does not ask on every message; /admin always asks again). A message an anonymous
  admin sends as the group itself is an admin's.
- `Places.served`: `[telegram] allowed_chats`, when not empty, lists the groups served; private
  chats are always served.
- `admin_call`: one /admin command line -> the core's admin method, or the usage of what was mistyped.

The limits, rules and refusals themselves are the core's (`bot.core.servers`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from telegram import Bot, Chat, Message, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from bot import messages
from bot.core import ViperBot
from bot.core.servers import Place
from bot.commands import TELEGRAM
from viper.contracts.config import Settings

log = logging.getLogger("viper.telegram")

ADMIN_TTL_S = 60.0  # how long Telegram's word on a member's admin rights is taken as true
MAX_REMEMBERED = 10_000  # (group, member) answers kept at most; the expired ones go first
ADMIN_STATUSES = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
PER_DAY = re.compile(r"[0-9]{1,6}")
SECONDS = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,3})?")


def channel_of(chat: Chat, message: Message | None) -> str:
    """The channel of the core's `Place`: the chat id, or `<chat id>/<topic id>` for a message in
    a forum topic (the General topic and groups without topics are the chat itself)."""
    topic = message.message_thread_id if message is not None and message.is_topic_message else None
    return f"{chat.id}/{topic}" if topic and chat.is_forum else str(chat.id)


class Places:
    """The `Place` of each update, with a short memory of who administers which group."""

    def __init__(self, settings: Settings, ttl_s: float = ADMIN_TTL_S):
        self.settings = settings
        self.ttl_s = ttl_s
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}  # (chat, user) -> (until, is admin)

    def served(self, chat: Chat | None) -> bool:
        """Whether the bot works in `chat`: private chats always, groups when `[telegram]
        allowed_chats` is empty or names them."""
        allowed = self.settings.telegram.allowed_chats
        return chat is None or chat.type == ChatType.PRIVATE or not allowed or chat.id in allowed

    async def place(self, bot: Bot, chat: Chat, user: User | None, message: Message | None = None, *,
                    fresh: bool = False) -> Place:
        """Where `user` acts: `message` is theirs, or the bot's message whose button they pressed.
        `fresh`: ask Telegram about their rights again (for /admin)."""
        private = chat.type == ChatType.PRIVATE
        sender_chat = message.sender_chat if message is not None and message.from_user == user else None
        if sender_chat is not None and sender_chat.id == chat.id:
            admin = True  # an anonymous admin, writing as the group
        elif user is None:
            admin = False
        elif user.id in self.settings.telegram.admin_ids:
            admin = True
        else:
            admin = not private and await self.group_admin(bot, chat.id, user.id, fresh=fresh)
        return Place(TELEGRAM, None if private else str(chat.id), channel_of(chat, message), is_admin=admin)

    async def group_admin(self, bot: Bot, chat_id: int, user_id: int, *, fresh: bool = False) -> bool:
        """Whether Telegram says `user_id` is the creator or an administrator of `chat_id`. A
        refusal or a network error counts as no (and is remembered as briefly as an answer)."""
        key, now = (chat_id, user_id), time.monotonic()
        known = self._admins.get(key)
        if known is not None and known[0] > now and not fresh:
            return known[1]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
            admin = member.status in ADMIN_STATUSES
        except TelegramError as e:
            log.info("could not ask Telegram whether %s administers %s: %s", user_id, chat_id, e)
            admin = False
        self._remember(key, now + self.ttl_s, admin)
        return admin

    def _remember(self, key: tuple[int, int], until: float, admin: bool) -> None:
        if len(self._admins) >= MAX_REMEMBERED and key not in self._admins:
            now = time.monotonic()
            self._admins = {k: v for k, v in self._admins.items() if v[0] > now}
            while len(self._admins) >= MAX_REMEMBERED:  # all fresh: drop the oldest answers
                del self._admins[next(iter(self._admins))]
        self._admins.pop(key, None)  # re-inserted: the dict's order is the answers' age
        self._admins[key] = (until, admin)


AdminCall = Callable[[Place], Awaitable[str]]


def admin_call(core: ViperBot, words: list[str]) -> AdminCall | str:
    """What `/admin <words>` asks of the core (a call to make with the admin's `Place`), or the
    usage sentence to answer when the words are none of the accepted forms (`messages.ADMIN_USAGE`)."""
    if not words:
        return messages.ADMIN_USAGE[""]
    what, rest = words[0].lower(), words[1:]
    choice = [w.lower() for w in rest]
    if what == "channels":
        if not rest:
            return lambda place: core.admin_channels(place, None)
        if choice in (["all"], ["here"]):
            return lambda place: core.admin_channels(place, [place.channel_id] if choice == ["here"] else [])
    elif what == "limits":
        if not rest:
            return lambda place: core.admin_limits(place)
        if choice == ["reset"]:
            return lambda place: core.admin_limits(place, reset=True)
        if len(rest) <= 2 and PER_DAY.fullmatch(rest[0]) and all(SECONDS.fullmatch(w) for w in rest[1:]):
            per_day, cooldown = int(rest[0]), float(rest[1]) if len(rest) == 2 else None
            return lambda place: core.admin_limits(place, per_day, cooldown)
    elif what == "block":
        if choice == ["list"]:
            return lambda place: core.admin_block(place, "list")
        if len(rest) >= 2 and choice[0] in ("add", "remove"):
            return lambda place: core.admin_block(place, choice[0], " ".join(rest[1:]))
    elif what in ("pause", "resume") and not rest:
        return lambda place: core.admin_pause(place, what == "pause")
    elif what == "stats" and not rest:
        return lambda place: core.admin_stats(place)
    return messages.ADMIN_USAGE.get(what, messages.ADMIN_USAGE[""])
