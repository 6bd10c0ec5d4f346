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

Members send files too (`push_document`): the bot gets a Document and fetches it with getFile
(refused over 20 MB, as Telegram does) and a download; documents the bot sends (sendDocument) keep
the filename and type they were uploaded with (`ApiCall.file_names`, `file_types`).

Groups have members of a status (`set_member_status`: creator, administrator, member...), which
getChatMember answers (a member nobody set is a plain "member"); a forum supergroup
(`make_forum`) has topics: `push_message(..., topic=)` writes in one, and the bot's messages land in
the topic they reply to (or name with `message_thread_id`). A photo sent with `has_spoiler` carries
`has_media_spoiler`, as Telegram shows it. Command lists are kept per BotCommandScope
(`scoped_commands`; `commands` is the default scope's).

Supported methods: getMe, deleteWebhook, getWebhookInfo, getUpdates, sendMessage, sendPhoto,
sendDocument, sendMediaGroup, editMessageText, editMessageCaption, editMessageReplyMarkup,
deleteMessage, setMyCommands, getMyCommands, answerCallbackQuery, sendChatAction, getFile,
getChatMember, and file downloads.
Add a method by writing an
`_api_<name>` coroutine in telegram_methods.py that takes an `ApiCall` and returns the result (or
raises `ApiError`).

The code: this module holds the emulator's state, life cycle, the member's side (pushing updates)
and the HTTP handling; the Bot API methods are mixed in from telegram_methods.py and the chat and
message helpers from telegram_messages.py, over telegram_model.py (the limits and recorded
objects, all importable from here as before).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any, Callable

from aiohttp import web

from tests.emulators.telegram_messages import MessageStore
from tests.emulators.telegram_methods import BotApiMethods
from tests.emulators.telegram_model import (
    BAD_BUTTON,
    BOOL_FIELDS,
    BUTTONS_LIMIT,
    CALLBACK_ANSWER_LIMIT,
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    INT_FIELDS,
    JSON_FIELDS,
    NOT_MODIFIED,
    TEXT_LIMIT,
    ApiCall,
    ApiError,
    StoredFile,
    _decode,
    chat_member,
)

__all__ = [
    "BAD_BUTTON",
    "BOOL_FIELDS",
    "BUTTONS_LIMIT",
    "CALLBACK_ANSWER_LIMIT",
    "CALLBACK_DATA_LIMIT",
    "CAPTION_LIMIT",
    "INT_FIELDS",
    "JSON_FIELDS",
    "NOT_MODIFIED",
    "TEXT_LIMIT",
    "ApiCall",
    "ApiError",
    "StoredFile",
    "TelegramAPIEmulator",
]


class TelegramAPIEmulator(BotApiMethods, MessageStore):
    """Serve the Bot API for one bot token. Use `async with TelegramAPIEmulator() as api:`."""

    def __init__(
        self, token: str = "123456:EMULATED-TOKEN", *, bot_id: int = 123456, username: str = "viper_test_bot",
        refuse_unopened_private_chats: bool = True,
    ):
        self.token = token
        self.refuse_unopened_private_chats = refuse_unopened_private_chats
        self.answer_delays: dict[str, float] = {}  # lower-case method -> seconds before answering
        self.bot_user = {
            "id": bot_id, "is_bot": True, "first_name": "ViPer", "username": username,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self.errors: list[ApiCall] = []
        self.commands: list[dict] = []  # the default scope's command list
        self.scoped_commands: dict[tuple, list[dict]] = {}  # ("default",), ("all_chat_administrators",)...
        self.member_statuses: dict[tuple[int, int], str] = {}  # (chat id, user id) -> creator, administrator...
        self.users: dict[int, dict] = {}  # every member who wrote, by id (getChatMember shows them)
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

    # -- lifecycle ---------------------------------------------------------------------------------

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

    # -- what the test does: push updates, wait for the bot's calls --------------------------------

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

    def set_member_status(self, chat_id: int, user: int | dict, status: str) -> None:
        """What getChatMember says about `user` in the group `chat_id`: "creator", "administrator",
        "member" (everybody's, until set), "restricted", "left" or "kicked"."""
        user_id = user if isinstance(user, int) else user["id"]
        chat_member(self.users.get(user_id) or self.user(user_id), status)  # refuses an unknown status
        self.member_statuses[(chat_id, user_id)] = status

    def make_forum(self, chat_id: int) -> dict:
        """The supergroup `chat_id` has topics (`is_forum`); messages may then name one."""
        chat = self._chat(chat_id, None, "supergroup")
        chat["is_forum"] = True
        return chat

    def commands_for(self, scope: str = "default", *ids: int) -> list[str]:
        """The command names last set for a BotCommandScope (`"all_chat_administrators"`, ...)."""
        return [c["command"] for c in self.scoped_commands.get((scope, *ids), [])]

    async def push_message(
        self,
        chat_id: int,
        user: int | dict,
        text: str,
        reply_to_message_id: int | None = None,
        *,
        chat_type: str | None = None,
        topic: int | None = None,
        as_chat: bool = False,
    ) -> dict:
        """A member sends `text` in `chat_id` (optionally replying to a message); returns the Message JSON.

        A leading `/command` gets its `bot_command` entity, as Telegram adds it. The chat is private
        when its id is positive unless `chat_type` says otherwise. `topic`: the forum topic it is
        written in (`make_forum` first); a reply is in the topic of the message it replies to.
        `as_chat`: an anonymous admin writes as the group itself (`sender_chat` is the chat).
        """
        message = self._member_message(chat_id, user, chat_type, reply_to_message_id, topic=topic, text=text)
        if as_chat:
            message["sender_chat"] = message["chat"]
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        await self.push_update({"message": message})
        return message

    async def push_document(
        self,
        chat_id: int,
        user: int | dict,
        data: bytes,
        file_name: str,
        caption: str | None = None,
        *,
        mime_type: str = "application/json",
        reply_to_message_id: int | None = None,
        chat_type: str | None = None,
    ) -> dict:
        """A member sends a file as a document (📎 File), with an optional caption; returns the Message JSON.

        The file is kept as Telegram keeps it: the bot sees its `file_id`, `file_name`, `mime_type`
        and `file_size`, and fetches the bytes with getFile and a download. A caption that begins
        with `/command` gets its `bot_command` caption entity.
        """
        stored = self._store_document(data, file_name, mime_type)
        content: dict[str, Any] = {"document": stored.document()}
        if caption:
            content["caption"] = caption
            if caption.startswith("/"):
                command = caption.split(maxsplit=1)[0]
                content["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        message = self._member_message(chat_id, user, chat_type, reply_to_message_id, **content)
        await self.push_update({"message": message})
        return message

    def _member_message(self, chat_id: int, user: int | dict, chat_type: str | None, reply_to_message_id: int | None,
                        topic: int | None = None, **content: Any) -> dict:
        """A new message from a member in `chat_id`, kept so the bot (and later messages) can refer to it."""
        sender = self.user(user) if isinstance(user, int) else dict(user)
        self.users[sender["id"]] = sender
        chat = self._chat(chat_id, sender, chat_type)
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            **content,
        }
        replied = None
        if reply_to_message_id is not None:
            replied = self.messages.get((chat_id, reply_to_message_id))
            if replied is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id} to reply to")
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        if topic is None and replied is not None:
            topic = replied.get("message_thread_id")
        if topic is not None:
            if not chat.get("is_forum"):
                raise ValueError(f"chat {chat_id} has no topics (make_forum first)")
            message.update(message_thread_id=topic, is_topic_message=True)
        self.messages[(chat_id, message["message_id"])] = message
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

    # -- HTTP --------------------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        call = ApiCall(method, {})
        try:
            call.params = await self._read_params(request, call)
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
        if self.answer_delays.get(method.lower()):  # done, but the answer is slow to come back
            await asyncio.sleep(self.answer_delays[method.lower()])
        return web.json_response({"ok": True, "result": call.result})

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        if not call.ok:
            self.errors.append(call)

    async def _read_params(self, request: web.Request, call: ApiCall) -> dict[str, Any]:
        """The decoded parameters; uploaded files (with their names and types) go to `call`."""
        raw: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                raw.update(await request.json())
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        call.files[name] = value.file.read()
                        call.file_names[name] = value.filename or ""
                        call.file_types[name] = value.content_type or ""
                    else:
                        raw[name] = value
        return {name: _decode(name, value) for name, value in raw.items()}

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.path == path:
                return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")
        return web.Response(status=404)
