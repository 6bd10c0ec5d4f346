"""A small Telegram Bot API emulator (aiohttp, 127.0.0.1, random port) for end-to-end tests.

Point a real python-telegram-bot `Application` at it with `base_url=emulator.base_url` and
`base_file_url=emulator.base_file_url`. The test plays the members: it pushes updates shaped like
the JSON Telegram sends (`push_message`, `push_update`), and the bot fetches them with getUpdates.
Every call the bot makes is recorded as an `ApiCall` (method, decoded parameters, uploaded file
bytes, result) and `wait_for` awaits the first recorded call that matches a predicate.

It behaves like Telegram where a bot could get it wrong: update offsets confirm updates (a
long-poll whose client went away loses nothing), message ids increase per chat, uploaded photos
must be real images, captions and texts have Telegram's length limits, and editing a message to
the text it already has fails with "message is not modified". Every refusal is recorded in
`errors` as well, so a test can assert there were none.

Inline keyboards are checked as Telegram checks them (callback data of 1 to 64 bytes, http(s) or
tg:// URLs) and kept on the message, so an edit without `reply_markup` drops the keyboard. A test
presses a button with `push_callback`, which refuses data the message has no button for; every
callback query must be answered once (`unanswered_callbacks`). A bot cannot write first to a
member who never opened its private chat: such a send is refused with 403, as Telegram does,
unless `refuse_unopened_private_chats` is turned off (`open_private_chat` opens one without a
message).

Supported methods: getMe, deleteWebhook, getWebhookInfo, getUpdates, sendMessage, sendPhoto,
sendMediaGroup, editMessageText, editMessageCaption, editMessageReplyMarkup, deleteMessage,
setMyCommands, getMyCommands, answerCallbackQuery, sendChatAction, getFile, and file downloads.
Add a method by writing an
`_api_<name>` coroutine that takes an `ApiCall` and returns the result (or raises `ApiError`).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

JSON_FIELDS = {
    "media", "reply_markup", "commands", "reply_parameters", "entities", "caption_entities",
    "allowed_updates", "scope", "link_preview_options",
}
INT_FIELDS = {
    "chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id", "message_thread_id",
    "from_chat_id", "user_id", "cache_time",
}
BOOL_FIELDS = {
    "disable_notification", "protect_content", "allow_sending_without_reply", "drop_pending_updates",
    "has_spoiler", "show_alert", "show_caption_above_media",
}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
CALLBACK_ANSWER_LIMIT = 200  # characters of an answerCallbackQuery text
BUTTONS_LIMIT = 100  # buttons in one inline keyboard
BAD_BUTTON = "Bad Request: can't parse inline keyboard button"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A refusal, answered as Telegram does: `{"ok": false, "error_code": ..., "description": ...}`."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class ApiCall:
    """One request the bot made, as the emulator understood it."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    ok: bool = True
    result: Any = None
    error: str | None = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        """The message text or photo caption (empty when the call has neither)."""
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict]:
        """The inline keyboard the call sent, row after row (empty without one)."""
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def __repr__(self) -> str:  # short enough to read in an assertion message
        shown = {k: v for k, v in self.params.items() if k not in ("media",)}
        extra = f" files={sorted(self.files)}" if self.files else ""
        status = "" if self.ok else f" ERROR {self.error!r}"
        return f"<{self.method} {shown}{extra}{status}>"


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    width: int = 0
    height: int = 0

    @property
    def path(self) -> str:
        return f"photos/{self.file_unique_id}.png"


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    if name in INT_FIELDS and value.lstrip("-").isdigit():
        return int(value)
    if name in BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None


class TelegramAPIEmulator:
    """Serve the Bot API for one bot token. Use `async with TelegramAPIEmulator() as api:`."""

    def __init__(
        self, token: str = "123456:EMULATED-TOKEN", *, bot_id: int = 123456, username: str = "viper_test_bot",
        refuse_unopened_private_chats: bool = True,
    ):
        self.token = token
        self.refuse_unopened_private_chats = refuse_unopened_private_chats
        self.bot_user = {
            "id": bot_id, "is_bot": True, "first_name": "ViPer", "username": username,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self.errors: list[ApiCall] = []
        self.commands: list[dict] = []
        self.messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) -> Message JSON
        self.files: dict[str, StoredFile] = {}
        self._chats: dict[int, dict] = {}
        self._next_message_id: dict[int, int] = {}
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1000)
        self._file_seq = itertools.count(1)
        self._media_groups = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self.callback_answers: dict[str, dict] = {}  # callback query id -> answerCallbackQuery params
        self._open_callbacks: dict[str, dict] = {}  # pushed, not answered yet
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> "TelegramAPIEmulator":
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll whose client hung up stops waiting at once.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "TelegramAPIEmulator":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder.base_url` (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what the test does: push updates, wait for the bot's calls -------------------------------

    def user(self, user_id: int, first_name: str | None = None, username: str | None = None) -> dict:
        u = {"id": user_id, "is_bot": False, "first_name": first_name or f"Member{user_id}", "language_code": "en"}
        if username:
            u["username"] = username
        return u

    async def push_update(self, update: dict) -> dict:
        """Queue a raw update (an `update_id` is assigned when missing) for the next getUpdates."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        await self._notify()
        return update

    async def push_message(
        self,
        chat_id: int,
        user: int | dict,
        text: str,
        reply_to_message_id: int | None = None,
        *,
        chat_type: str | None = None,
    ) -> dict:
        """A member sends `text` in `chat_id` (optionally replying to a message); returns the Message JSON.

        A leading `/command` gets its `bot_command` entity, as Telegram adds it. The chat is private
        when its id is positive unless `chat_type` says otherwise.
        """
        sender = self.user(user) if isinstance(user, int) else dict(user)
        chat = self._chat(chat_id, sender, chat_type)
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to_message_id is not None:
            replied = self.messages.get((chat_id, reply_to_message_id))
            if replied is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id} to reply to")
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        self.messages[(chat_id, message["message_id"])] = message
        await self.push_update({"message": message})
        return message

    def open_private_chat(self, user: int | dict) -> dict:
        """The member has started the bot (its private chat exists) without sending anything now."""
        sender = self.user(user) if isinstance(user, int) else dict(user)
        return self._chat(sender["id"], sender, "private")

    async def push_callback(self, chat_id: int, user: int | dict, message_id: int, data: str) -> dict:
        """A member presses the inline button with `data` under the bot's message; returns the query.

        Like Telegram, only data of a button the message shows now can be sent.
        """
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        markup = message.get("reply_markup") or {}
        offered = [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]
        if data not in offered:
            raise ValueError(f"message {message_id} has no button with data {data!r}; it offers {offered}")
        sender = self.user(user) if isinstance(user, int) else dict(user)
        query = {
            "id": str(next(self._callback_ids)),
            "from": sender,
            "message": json.loads(json.dumps(message)),
            "chat_instance": f"instance{chat_id}",
            "data": data,
        }
        self._open_callbacks[query["id"]] = query
        await self.push_update({"callback_query": query})
        return query

    @property
    def unanswered_callbacks(self) -> list[dict]:
        """Pushed callback queries the bot never answered (each leaves a spinning button)."""
        return list(self._open_callbacks.values())

    def mark(self) -> int:
        """The index of the next call: pass it as `since` to wait only for what happens next."""
        return len(self.calls)

    async def wait_for(
        self, predicate: Callable[[ApiCall], bool], timeout: float = 10.0, *, since: int = 0
    ) -> ApiCall:
        """The first recorded call from index `since` on that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for call in self.calls[since:]:
                    if predicate(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = "\n  ".join(repr(c) for c in self.calls[since:][-15:] if c.method != "getUpdates")
                    raise AssertionError(f"no matching Bot API call within {timeout} s; the latest were:\n  {recent}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

    def calls_to(self, method: str, *, since: int = 0, chat_id: int | None = None) -> list[ApiCall]:
        return [
            c for c in self.calls[since:]
            if c.method == method and c.ok and (chat_id is None or c.chat_id == chat_id)
        ]

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].data

    # -- HTTP -----------------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        call = ApiCall(method, {})
        try:
            call.params, call.files = await self._read_params(request)
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            call.result = await handler(call)
        except ApiError as e:
            call.ok, call.error = False, e.description
            self._record(call)
            body = {"ok": False, "error_code": e.code, "description": e.description}
            if e.parameters:
                body["parameters"] = e.parameters
            await self._notify()
            return web.json_response(body, status=e.code)
        if method.lower() != "getupdates" or call.result:  # empty long polls are noise
            self._record(call)
            await self._notify()
        return web.json_response({"ok": True, "result": call.result})

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        if not call.ok:
            self.errors.append(call)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                raw.update(await request.json())
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        files[name] = value.file.read()
                    else:
                        raw[name] = value
        return {name: _decode(name, value) for name, value in raw.items()}, files

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.path == path:
                return web.Response(body=stored.data, content_type="image/png")
        return web.Response(status=404)

    # -- helpers for building replies --------------------------------------------------------------

    def _chat(self, chat_id: int, sender: dict | None = None, chat_type: str | None = None) -> dict:
        if chat_id not in self._chats:
            kind = chat_type or ("private" if chat_id > 0 else "supergroup")
            if kind == "private":
                sender = sender or {}
                chat = {"id": chat_id, "type": "private", "first_name": sender.get("first_name", f"Member{chat_id}")}
                if sender.get("username"):
                    chat["username"] = sender["username"]
            else:
                chat = {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _known_chat(self, call: ApiCall) -> int:
        chat_id = call.params.get("chat_id")
        if isinstance(chat_id, int) and chat_id not in self._chats and chat_id > 0:
            # A user's id is their private chat with the bot, which exists once they started it.
            if self.refuse_unopened_private_chats:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            self._chat(chat_id, None, "private")
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    @staticmethod
    def _markup(call: ApiCall) -> dict:
        """`{"reply_markup": ...}` for an inline keyboard (the only kind a Message carries), else `{}`."""
        markup = call.params.get("reply_markup")
        if markup is None or "inline_keyboard" not in markup:
            return {}
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError(400, f"{BAD_BUTTON}: field \"inline_keyboard\" must be an array of arrays")
        buttons = [b for row in rows for b in row]
        if len(buttons) > BUTTONS_LIMIT:
            raise ApiError(400, "Bad Request: BUTTONS_TOO_MUCH")
        for button in buttons:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise ApiError(400, f"{BAD_BUTTON}: text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                if not 1 <= len(str(button["callback_data"]).encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            elif "url" in button:
                if not str(button["url"]).startswith(("http://", "https://", "tg://")):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            elif not set(button) & {"switch_inline_query", "switch_inline_query_current_chat", "copy_text", "pay"}:
                raise ApiError(400, f"{BAD_BUTTON}: text buttons are unallowed in the inline keyboard")
        return {"reply_markup": {"inline_keyboard": rows}} if buttons else {}

    def _bot_message(self, call: ApiCall, chat_id: int, **content: Any) -> dict:
        message = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chats[chat_id],
            "from": self.bot_user,
            **content,
        }
        reply_to = self._reply_target(call, chat_id)
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _reply_target(self, call: ApiCall, chat_id: int) -> dict | None:
        params = call.params.get("reply_parameters") or {}
        message_id = params.get("message_id", call.params.get("reply_to_message_id"))
        if message_id is None:
            return None
        found = self.messages.get((chat_id, int(message_id)))
        allow = params.get("allow_sending_without_reply", call.params.get("allow_sending_without_reply", False))
        if found is None and not allow:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return found

    def _store_photo(self, data: bytes) -> list[dict]:
        width, height = _image_size(data)
        n = next(self._file_seq)
        stored = StoredFile(f"photo-{n}-{len(data)}", f"uniq{n}", data, width, height)
        self.files[stored.file_id] = stored
        return self._photo_sizes(stored)

    @staticmethod
    def _photo_sizes(stored: StoredFile) -> list[dict]:
        return [{
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "width": stored.width, "height": stored.height, "file_size": len(stored.data),
        }]

    def _photo(self, value: Any, files: dict[str, bytes], field_name: str) -> list[dict]:
        """PhotoSize list for an uploaded file, an `attach://name` or an earlier file_id."""
        if value is None and field_name in files:
            return self._store_photo(files[field_name])
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in files:
                raise ApiError(400, f"Bad Request: file {name} not found in the request")
            return self._store_photo(files[name])
        if isinstance(value, str) and value in self.files:
            return self._photo_sizes(self.files[value])
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")  # the emulator reaches nothing
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    @staticmethod
    def _caption(call: ApiCall, params: dict | None = None) -> dict:
        caption = (params if params is not None else call.params).get("caption")
        if caption is None:
            return {}
        if len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": caption}

    # -- the Bot API methods ------------------------------------------------------------------

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
        return self._bot_message(call, chat_id, photo=photo, **self._caption(call), **self._markup(call))

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

    def _own_message(self, call: ApiCall) -> dict:
        chat_id = self._known_chat(call)
        message = self.messages.get((chat_id, call.params.get("message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

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

    @staticmethod
    def _set_markup(message: dict, markup: dict) -> None:
        message.pop("reply_markup", None)
        message.update(markup)

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
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for c in commands:
            name, about = c.get("command", ""), c.get("description", "")
            if not (1 <= len(name) <= 32 and name.islower() and name.replace("_", "").isalnum()):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(about) <= 256:
                raise ApiError(400, "Bad Request: command description is invalid")
        self.commands = commands
        return True

    async def _api_getmycommands(self, call: ApiCall) -> list[dict]:
        return self.commands

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
        return {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data), "file_path": stored.path,
        }
