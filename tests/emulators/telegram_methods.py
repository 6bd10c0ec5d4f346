"""The Bot API methods the Telegram emulator serves, one `_api_<name>` coroutine each.

`TelegramAPIEmulator._handle_api` finds them by name: add a method by writing another one here that
takes an `ApiCall` and returns the result (or raises `ApiError`).
"""

from __future__ import annotations

import asyncio
import time

from tests.emulators.telegram_model import (
    CALLBACK_ANSWER_LIMIT,
    COMMAND_SCOPES,
    DOWNLOAD_LIMIT,
    NOT_MODIFIED,
    TEXT_LIMIT,
    ApiCall,
    ApiError,
    chat_member,
)


class BotApiMethods:
    """Mixed into `TelegramAPIEmulator`, whose state they read and change and whose message helpers
    (`MessageStore`) they call."""

    async def _api_getme(self, call: ApiCall) -> dict:
        return self.bot_user

    async def _api_deletewebhook(self, call: ApiCall) -> bool:
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_getwebhookinfo(self, call: ApiCall) -> dict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _api_getupdates(self, call: ApiCall) -> list[dict]:
        offset = call.params.get("offset") or 0
        limit = max(1, min(100, call.params.get("limit") or 100))
        timeout = max(0, call.params.get("timeout") or 0)
        if offset > 0:  # confirms (forgets) every update before `offset`
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset] if offset > 0 else list(self._updates)
                remaining = deadline - time.monotonic()
                if ready or self._closing or remaining <= 0:
                    return ready[:limit]
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

    async def _api_sendmessage(self, call: ApiCall) -> dict:
        chat_id = self._known_chat(call)
        text = call.params.get("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        return self._bot_message(call, chat_id, text=text, **self._markup(call))

    async def _api_sendphoto(self, call: ApiCall) -> dict:
        chat_id = self._known_chat(call)
        photo = self._photo(call.params.get("photo"), call.files, "photo")
        spoiler = {"has_media_spoiler": True} if call.params.get("has_spoiler") else {}
        return self._bot_message(call, chat_id, photo=photo, **self._caption(call), **self._markup(call), **spoiler)

    async def _api_senddocument(self, call: ApiCall) -> dict:
        chat_id = self._known_chat(call)
        document = self._document(call)
        return self._bot_message(call, chat_id, document=document, **self._caption(call), **self._markup(call))

    async def _api_sendmediagroup(self, call: ApiCall) -> list[dict]:
        chat_id = self._known_chat(call)
        media = call.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError(400, "Bad Request: wrong number of media in the album: must be 2-10")
        items = []
        for item in media:
            if item.get("type") != "photo":
                raise ApiError(400, f"Bad Request: the emulator only handles photo albums, got {item.get('type')!r}")
            items.append((self._photo(item.get("media"), call.files, ""), self._caption(call, item)))
        group_id = str(next(self._media_groups))
        return [
            self._bot_message(call, chat_id, photo=photo, media_group_id=group_id, **caption)
            for photo, caption in items
        ]

    async def _api_editmessagetext(self, call: ApiCall) -> dict:
        message = self._own_message(call)
        text = call.params.get("text") or ""
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = self._markup(call)  # an edit without one drops the keyboard, as in Telegram
        if text == message["text"] and markup.get("reply_markup") == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    async def _api_editmessagereplymarkup(self, call: ApiCall) -> dict:
        message = self._own_message(call)
        markup = self._markup(call)
        if markup.get("reply_markup") == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    async def _api_editmessagecaption(self, call: ApiCall) -> dict:
        message = self._own_message(call)
        caption = self._caption(call).get("caption", "")
        if caption == message.get("caption", ""):
            raise ApiError(400, "Bad Request: message is not modified")
        message["caption"] = caption
        message["edit_date"] = int(time.time())
        return message

    async def _api_deletemessage(self, call: ApiCall) -> bool:
        chat_id = self._known_chat(call)
        if self.messages.pop((chat_id, call.params.get("message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _api_setmycommands(self, call: ApiCall) -> bool:
        scope = self._command_scope(call)
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for c in commands:
            name, about = c.get("command", ""), c.get("description", "")
            if not (1 <= len(name) <= 32 and name.islower() and name.replace("_", "").isalnum()):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(about) <= 256:
                raise ApiError(400, "Bad Request: command description is invalid")
        self.scoped_commands[scope] = commands
        if scope == ("default",):
            self.commands = commands
        return True

    async def _api_getmycommands(self, call: ApiCall) -> list[dict]:
        return self.scoped_commands.get(self._command_scope(call), [])

    def _command_scope(self, call: ApiCall) -> tuple:
        """A BotCommandScope as a key: `("default",)`, `("all_chat_administrators",)`,
        `("chat", chat_id)`, `("chat_member", chat_id, user_id)`..."""
        scope = call.params.get("scope") or {"type": "default"}
        kind = scope.get("type") if isinstance(scope, dict) else None
        if kind not in COMMAND_SCOPES:
            raise ApiError(400, "Bad Request: wrong parameter scope")
        fields = COMMAND_SCOPES[kind]
        if any(not isinstance(scope.get(f), int) for f in fields):
            raise ApiError(400, f"Bad Request: scope {kind} needs {', '.join(fields)}")
        return (kind, *(scope[f] for f in fields))

    async def _api_getchatmember(self, call: ApiCall) -> dict:
        chat_id = self._known_chat(call)
        user_id = call.params.get("user_id")
        if not isinstance(user_id, int):
            raise ApiError(400, "Bad Request: invalid user_id specified")
        if self._chats[chat_id]["type"] == "private" and user_id not in (chat_id, self.bot_user["id"]):
            raise ApiError(400, "Bad Request: user not found")
        status = self.member_statuses.get((chat_id, user_id), "member")
        user = self.bot_user if user_id == self.bot_user["id"] else self.users.get(user_id) or self.user(user_id)
        return chat_member(user, status)

    async def _api_answercallbackquery(self, call: ApiCall) -> bool:
        query_id = str(call.params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:  # unknown, or answered already
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(call.params.get("text") or "") > CALLBACK_ANSWER_LIMIT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        del self._open_callbacks[query_id]
        self.callback_answers[query_id] = call.params
        return True

    async def _api_sendchataction(self, call: ApiCall) -> bool:
        self._known_chat(call)
        return True

    async def _api_getfile(self, call: ApiCall) -> dict:
        stored = self.files.get(call.params.get("file_id", ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data), "file_path": stored.path,
        }
