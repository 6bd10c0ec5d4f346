"""A local stand-in for Discord: the REST API and the gateway, served by aiohttp on 127.0.0.1.

It speaks enough of both for the real discord.py client to log in, sync slash commands, connect to
the gateway, receive interactions and answer them:

REST (under `/api/v10`, what `settings.discord.api_base_url` points at)
- `GET /users/@me`, `GET /oauth2/applications/@me` (and `/applications/@me`): the bot and its app.
- `GET /gateway`, `GET /gateway/bot`: where the emulated gateway listens.
- `PUT /applications/{app}/commands` and `/applications/{app}/guilds/{guild}/commands`: command sync.
- `POST /interactions/{id}/{token}/callback`: interaction responses (types 4, 5, 6, 7 and 9), JSON or
  multipart with files. Like Discord, it refuses a second response (40060) and a response later
  than `response_deadline_s` after the interaction was sent (10062).
- `POST /webhooks/{app}/{token}`, `GET/PATCH/DELETE /webhooks/{app}/{token}/messages/{id|@original}`:
  follow-ups and edits. The first follow-up after a deferred ("thinking") response fills that
  response, as on Discord. `expire_token` makes a token unknown (10015), as after 15 minutes.
- `POST /channels/{id}/messages`: plain bot messages.
- `GET /attachments/{id}/{filename}`: the bytes of an uploaded file.
Bot endpoints check the `Authorization: Bot <token>` header; webhook endpoints check the token.

Gateway (a websocket at `/gateway`): HELLO, heartbeat ACKs, IDENTIFY -> READY then GUILD_CREATE for
one guild with one text channel; RESUME is refused with INVALID_SESSION. Frames are plain JSON text
(discord.py accepts them even when it asked for compression). `send_interaction` pushes an
`INTERACTION_CREATE` dispatch built from the JSON Discord sends: type 2 (slash command with
`data.options`), type 3 (a message component, carrying the message it sits on: a button with
`data.component_type` 2, or a string select menu with `data.component_type` 3 and the chosen
`data.values`) and type 5 (modal submit with `data.components`).

Messages are checked against the component limits Discord enforces (custom_id length, labels,
at most 5 action rows of 5 buttons or one select menu, 1 to 25 select options, custom_ids unique
within a message); a payload that breaks one is refused with 50035, as Discord refuses it.

Every REST call is recorded (`calls`), with its JSON body (or `payload_json`) and uploaded files, and
every message the bot creates is kept (`messages`) in the shape Discord returns.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Interaction callback types
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
MODAL = 9


@dataclass
class Upload:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One REST request the client made, and what the emulator answered."""

    method: str
    path: str  # after the /api/v10 prefix, without the query
    query: dict[str, str]
    json: Any
    files: list[Upload]
    status: int = 0
    response: Any = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class SentInteraction:
    """An interaction pushed to the client, and the responses it received."""

    payload: dict
    sent_at: float
    callbacks: list[Call] = field(default_factory=list)
    refused: list[Call] = field(default_factory=list)  # responses Discord would reject
    message_ids: list[str] = field(default_factory=list)  # messages created through its token
    original_id: str | None = None
    loading: bool = False
    expired: bool = False

    @property
    def id(self) -> str:
        return self.payload["id"]

    @property
    def token(self) -> str:
        return self.payload["token"]


class DiscordError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), tz=timezone.utc).isoformat()


class DiscordEmulator:
    """Start with `await DiscordEmulator().start()` (or `async with`); stop with `close()`."""

    def __init__(
        self,
        *,
        token: str = "emulated-bot-token",
        guild_id: int = 700000000000000001,
        channel_id: int = 700000000000000002,
        response_deadline_s: float = 3.0,
    ):
        self.token = token
        self.guild_id = str(guild_id)
        self.channel_id = str(channel_id)
        self.response_deadline_s = response_deadline_s
        self._counter = 0
        self.application_id = self.snowflake()
        self.bot_user = {
            "id": self.application_id, "username": "ViPer", "global_name": "ViPer", "discriminator": "0",
            "avatar": None, "bot": True, "flags": 0, "public_flags": 0, "verified": True, "mfa_enabled": False,
        }
        self.owner = self.user(self.snowflake(), "owner")
        self.calls: list[Call] = []
        self.unexpected: list[Call] = []
        self.messages: dict[str, dict] = {}
        self.attachments: dict[str, bytes] = {}
        self.commands: dict[str, list[dict]] = {}  # "global" or a guild id -> synced commands
        self.interactions: dict[str, SentInteraction] = {}  # by token
        self.identified = 0  # IDENTIFY payloads received (one per client start)
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> "DiscordEmulator":
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{id}/{filename}", self._attachment)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "DiscordEmulator":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- ids and objects ----------------------------------------------------------------------------

    def snowflake(self) -> str:
        self._counter += 1
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (self._counter & 0x3FFFFF))

    @staticmethod
    def user(user_id: str | int, name: str) -> dict:
        return {"id": str(user_id), "username": name, "global_name": name.title(), "discriminator": "0",
                "avatar": None, "public_flags": 0}

    def channel(self) -> dict:
        return {"id": self.channel_id, "type": 0, "guild_id": self.guild_id, "name": "art", "position": 0,
                "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}

    def guild(self) -> dict:
        return {
            "id": self.guild_id, "name": "Emulated guild", "icon": None, "owner_id": self.owner["id"],
            "unavailable": False, "member_count": 2, "large": False, "features": [], "preferred_locale": "en-US",
            "roles": [{"id": self.guild_id, "name": "@everyone", "permissions": "2248473465835073", "position": 0,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "emojis": [], "stickers": [], "channels": [self.channel()], "threads": [], "members": [],
            "voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
            "joined_at": _iso(), "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "system_channel_flags": 0, "premium_tier": 0,
            "nsfw_level": 0, "premium_progress_bar_enabled": False,
        }

    def _message(self, data: dict, uploads: list[Upload], *, flags: int = 0, author: dict | None = None,
                 webhook: bool = False, interaction: SentInteraction | None = None) -> dict:
        message_id = self.snowflake()
        message = {
            "id": message_id, "type": 20 if interaction is not None else 0, "channel_id": self.channel_id,
            "guild_id": self.guild_id, "author": author or self.bot_user, "content": "", "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "pinned": False, "embeds": [],
            "attachments": [], "components": [], "timestamp": _iso(), "edited_timestamp": None, "flags": flags,
        }
        if webhook:
            message["webhook_id"] = self.application_id
            message["application_id"] = self.application_id
        if interaction is not None:
            p = interaction.payload
            message["interaction_metadata"] = {
                "id": p["id"], "type": p["type"], "user": p["member"]["user"],
                "authorizing_integration_owners": {"0": self.guild_id},
            }
        self._apply(message, data, uploads, edit=False)
        self.messages[message_id] = message
        return message

    @staticmethod
    def _validate(data: dict) -> None:
        """Refuse what Discord refuses with 50035 Invalid Form Body (the limits a bot can trip over)."""
        problems = []
        if len(data.get("content") or "") > 2000:
            problems.append("content: must be 2000 or fewer in length")
        if "title" in data and len(data["title"] or "") > 45:
            problems.append("title: must be 45 or fewer in length")

        seen: set[str] = set()

        def walk(components: list[dict]) -> None:
            for c in components:
                custom_id = c.get("custom_id")
                if custom_id is not None and not 1 <= len(custom_id) <= 100:
                    problems.append(f"custom_id {custom_id!r}: must be 1 to 100 characters")
                if custom_id is not None:
                    if custom_id in seen:
                        problems.append(f"custom_id {custom_id!r}: component custom id cannot be duplicated")
                    seen.add(custom_id)
                if c.get("type") == 2 and len(c.get("label") or "") > 80:
                    problems.append("label: must be 80 or fewer in length")
                if c.get("type") == 1:
                    inner = c.get("components") or []
                    selects = [x for x in inner if x.get("type") in (3, 5, 6, 7, 8)]
                    if not inner or len(inner) > 5 or (selects and len(inner) > 1):
                        problems.append("action row: holds 1 to 5 buttons or a single select menu")
                if c.get("type") == 3:
                    options = c.get("options") or []
                    if not 1 <= len(options) <= 25:
                        problems.append("options: a select menu needs 1 to 25 options")
                    if len(c.get("placeholder") or "") > 150:
                        problems.append("placeholder: must be 150 or fewer in length")
                    values = [o.get("value") or "" for o in options]
                    if len(set(values)) != len(values):
                        problems.append("options: values must be unique")
                    for o in options:
                        if not 1 <= len(o.get("label") or "") <= 100 or not 1 <= len(o.get("value") or "") <= 100:
                            problems.append("options: label and value must be 1 to 100 characters")
                        if len(o.get("description") or "") > 100:
                            problems.append("options: description must be 100 or fewer in length")
                walk(c.get("components") or [])
                if isinstance(c.get("component"), dict):
                    walk([c["component"]])

        top = data.get("components") or []
        if len([c for c in top if c.get("type") == 1]) > 5:
            problems.append("components: at most 5 action rows")
        walk(top)
        if problems:
            raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(problems))

    def _apply(self, message: dict, data: dict, uploads: list[Upload], *, edit: bool = True) -> None:
        """Apply a create or edit payload to a stored message (content, components, attachments)."""
        self._validate(data)
        for key in ("content", "embeds", "components"):
            if key in data and data[key] is not None:
                message[key] = data[key]
        if "flags" in data and data["flags"] is not None:
            # Only the ephemeral bit is chosen at creation; edits may only toggle suppression bits.
            message["flags"] = (message["flags"] & (EPHEMERAL | LOADING)) | (int(data["flags"]) & ~(EPHEMERAL | LOADING))
        if "attachments" in data or uploads:
            by_index = {u.field: u for u in uploads}
            kept = {a["id"]: a for a in message["attachments"]}
            attachments = []
            for entry in data.get("attachments") or [{"id": i} for i in range(len(uploads))]:
                upload = by_index.get(f"files[{entry['id']}]")
                if upload is None:
                    if str(entry["id"]) in kept:
                        attachments.append(kept[str(entry["id"])])
                    continue
                attachment_id = self.snowflake()
                self.attachments[attachment_id] = upload.data
                url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{upload.filename}"
                attachments.append({
                    "id": attachment_id, "filename": upload.filename, "size": len(upload.data), "url": url,
                    "proxy_url": url, "content_type": upload.content_type,
                    **({"description": entry["description"]} if entry.get("description") else {}),
                })
            message["attachments"] = attachments
        if edit:
            message["edited_timestamp"] = _iso()

    # -- waiting ---------------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Wait until `predicate()` returns something truthy, re-checking after every call; return it."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                found = predicate()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))
                except asyncio.TimeoutError:
                    pass

    def find_calls(self, method: str, pattern: str, since: int = 0) -> list[Call]:
        """Recorded calls with this method whose path fully matches the regular expression `pattern`."""
        rx = re.compile(pattern)
        return [c for c in self.calls[since:] if c.method == method and rx.fullmatch(c.path)]

    async def wait_call(self, method: str, pattern: str, since: int = 0, timeout: float = 10.0, count: int = 1) -> Call:
        """The `count`-th call matching (method, pattern) made after index `since`."""
        found = await self.wait_until(
            lambda: (lambda m: m[count - 1] if len(m) >= count else None)(self.find_calls(method, pattern, since)),
            timeout, f"{method} {pattern}",
        )
        return found

    async def wait_connected(self, identified: int = 1, timeout: float = 10.0) -> None:
        """Wait until the `identified`-th client has identified on the gateway and got READY."""
        await self.wait_until(lambda: self.identified >= identified and self._ws is not None, timeout,
                              f"gateway IDENTIFY #{identified}")

    async def wait_disconnected(self, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: self._ws is None, timeout, "the gateway client to disconnect")

    async def response(self, sent: SentInteraction, timeout: float = 10.0) -> Call:
        """The (first) callback the bot sent for an interaction."""

        def first() -> Call | None:
            if sent.refused:
                c = sent.refused[0]
                raise AssertionError(f"the response to interaction {sent.id} was refused: {c.status} {c.response}")
            return sent.callbacks[0] if sent.callbacks else None

        return await self.wait_until(first, timeout, f"a response to interaction {sent.id}")

    def expire_token(self, token: str) -> None:
        """Make an interaction token unknown, as Discord does 15 minutes after the interaction."""
        self.interactions[token].expired = True

    # -- interactions --------------------------------------------------------------------------------

    def _interaction(self, type_: int, user: dict, data: dict, message: dict | None = None) -> dict:
        interaction_id = self.snowflake()
        payload = {
            "id": interaction_id, "application_id": self.application_id, "type": type_, "data": data,
            "guild_id": self.guild_id, "guild": {"id": self.guild_id, "locale": "en-US", "features": []},
            "channel_id": self.channel_id, "channel": self.channel(),
            "member": {"user": user, "roles": [], "joined_at": _iso(), "deaf": False, "mute": False, "flags": 0,
                       "nick": None, "pending": False, "permissions": "2248473465835073"},
            "token": f"itok.{interaction_id}.{secrets.token_urlsafe(24)}", "version": 1,
            "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": self.guild_id}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        return payload

    def slash_command(self, name: str, user: dict, **options: str) -> dict:
        """An application command interaction, as a member typing `/name option:value` sends it."""
        synced = [c for cmds in self.commands.values() for c in cmds if c["name"] == name]
        if not synced:
            raise AssertionError(f"/{name} was never synced, so a member could not use it")
        command = synced[0]
        data = {"id": command["id"], "name": name, "type": 1,
                "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()]}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return self._interaction(2, user, data)

    @staticmethod
    def buttons(message: dict) -> dict[str, dict]:
        """custom_id -> button component of a message."""
        found = {}

        def walk(components: list[dict]) -> None:
            for c in components:
                if c.get("type") == 2 and "custom_id" in c:
                    found[c["custom_id"]] = c
                walk(c.get("components") or [])

        walk(message.get("components") or [])
        return found

    def button_click(self, message: dict | str, custom_id: str, user: dict) -> dict:
        """A button press on a message the bot sent; refuses buttons that are absent or disabled."""
        message = self.messages[message] if isinstance(message, str) else message
        button = self.buttons(message).get(custom_id)
        if button is None:
            raise AssertionError(f"no button {custom_id!r} on message {message['id']}: {list(self.buttons(message))}")
        if button.get("disabled"):
            raise AssertionError(f"button {custom_id!r} is disabled")
        return self._interaction(3, user, {"custom_id": custom_id, "component_type": 2}, dict(message))

    @staticmethod
    def selects(message: dict) -> dict[str, dict]:
        """custom_id -> string select menu component of a message."""
        found = {}

        def walk(components: list[dict]) -> None:
            for c in components:
                if c.get("type") == 3 and "custom_id" in c:
                    found[c["custom_id"]] = c
                walk(c.get("components") or [])

        walk(message.get("components") or [])
        return found

    def select_choice(self, message: dict | str, custom_id: str, values: list[str], user: dict) -> dict:
        """A member choosing `values` in a select menu; refuses what the Discord client would not send."""
        message = self.messages[message] if isinstance(message, str) else message
        menu = self.selects(message).get(custom_id)
        if menu is None:
            raise AssertionError(f"no select menu {custom_id!r} on message {message['id']}: {list(self.selects(message))}")
        if menu.get("disabled"):
            raise AssertionError(f"select menu {custom_id!r} is disabled")
        offered = [o["value"] for o in menu.get("options") or []]
        if any(v not in offered for v in values):
            raise AssertionError(f"the select menu {custom_id!r} offers {offered}, not {values}")
        if not menu.get("min_values", 1) <= len(values) <= menu.get("max_values", 1):
            raise AssertionError(f"the select menu {custom_id!r} takes {menu.get('min_values', 1)} to {menu.get('max_values', 1)} values")
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return self._interaction(3, user, data, dict(message))

    def modal_submit(self, modal: dict, values: dict[str, str], user: dict, message: dict | str | None = None,
                     *, enforce_limits: bool = True) -> dict:
        """The submission of a modal the bot opened (`modal` is the data of its type-9 response).

        With `enforce_limits`, refuses what the Discord client would (missing required field,
        text longer than max_length); without it, sends the text as a modified client could.
        """

        def answer(component: dict) -> dict:
            value = values.get(component["custom_id"], "")
            if enforce_limits:
                if component.get("required", True) and not value:
                    raise AssertionError(f"the Discord client requires {component['custom_id']!r}")
                if component.get("max_length") and len(value) > component["max_length"]:
                    raise AssertionError(f"the Discord client stops {component['custom_id']!r} at {component['max_length']}")
            return {"type": 4, "custom_id": component["custom_id"], "value": value}

        def mirror(components: list[dict]) -> list[dict]:
            out = []
            for c in components:
                if c.get("type") == 1:
                    out.append({"type": 1, "components": [answer(x) for x in c["components"] if x.get("type") == 4]})
                elif c.get("type") == 18 and c.get("component", {}).get("type") == 4:
                    out.append({"type": 18, "component": answer(c["component"])})
            return out

        message = self.messages[message] if isinstance(message, str) else message
        data = {"custom_id": modal["custom_id"], "components": mirror(modal["components"])}
        return self._interaction(5, user, data, dict(message) if message else None)

    async def send_interaction(self, payload: dict) -> SentInteraction:
        """Push an INTERACTION_CREATE to the connected client, as Discord's gateway does."""
        sent = SentInteraction(payload, time.monotonic())
        self.interactions[payload["token"]] = sent
        await self.dispatch("INTERACTION_CREATE", payload)
        return sent

    async def dispatch(self, event: str, data: dict) -> None:
        if self._ws is None:
            raise AssertionError("no client is connected to the gateway")
        self._seq += 1
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    # -- gateway -----------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    if frame["d"].get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    self._ws, self._seq = ws, 0
                    await self.dispatch("READY", {
                        "v": 10, "user": self.bot_user, "guilds": [{"id": self.guild_id, "unavailable": True}],
                        "session_id": secrets.token_hex(16), "resume_gateway_url": self.gateway_url,
                        "shard": [0, 1], "application": {"id": self.application_id, "flags": 0},
                    })
                    await self.dispatch("GUILD_CREATE", self.guild())
                    self.identified += 1
                    await self._notify()
                elif op == 6:
                    await ws.send_str(json.dumps({"op": 9, "d": False}))
        finally:
            if self._ws is ws:
                self._ws = None
            await self._notify()
        return ws

    # -- REST ----------------------------------------------------------------------------------------

    async def _attachment(self, request: web.Request) -> web.Response:
        data = self.attachments.get(request.match_info["id"])
        if data is None:
            return self._json({"code": 0, "message": "404: Not Found"}, 404)
        return web.Response(body=data)

    async def _read(self, request: web.Request) -> tuple[Any, list[Upload]]:
        if request.content_type.startswith("multipart/"):
            body, uploads = None, []
            reader = await request.multipart()
            async for part in reader:
                raw = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(raw)
                else:
                    uploads.append(Upload(part.name or "", part.filename or "",  # type: ignore[union-attr]
                                          part.headers.get("Content-Type", ""), bytes(raw)))
            return body, uploads
        if request.can_read_body:
            text = await request.text()
            return (json.loads(text) if text else None), []
        return None, []

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        body, uploads = await self._read(request)
        call = Call(request.method, path, dict(request.query), body, uploads)
        self.calls.append(call)
        try:
            status, result = await self._route(request, call)
        except DiscordError as e:
            status, result = e.status, {"code": e.code, "message": e.message}
        call.status, call.response = status, result
        await self._notify()
        if status == 204:
            return web.Response(status=204)
        return self._json(result, status)

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # discord.py decodes a body only when Content-Type is exactly application/json (no charset).
        return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})

    def _bot_auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    def _sent(self, app_id: str, token: str) -> SentInteraction:
        sent = self.interactions.get(token)
        if app_id != self.application_id or sent is None or sent.expired:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return sent

    async def _route(self, request: web.Request, call: Call) -> tuple[int, Any]:
        m, p, body = call.method, call.path, call.json or {}
        app = re.escape(self.application_id)
        if m == "GET" and p == "/users/@me":
            self._bot_auth(request)
            return 200, self.bot_user
        if m == "GET" and p in ("/oauth2/applications/@me", "/applications/@me"):
            self._bot_auth(request)
            return 200, {
                "id": self.application_id, "name": "ViPer", "description": "", "icon": None, "bot_public": True,
                "bot_require_code_grant": False, "owner": self.owner, "verify_key": "0" * 64, "flags": 0,
                "team": None, "bot": self.bot_user,
            }
        if m == "GET" and p in ("/gateway", "/gateway/bot"):
            if p == "/gateway/bot":
                self._bot_auth(request)
            return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}
        if m == "PUT" and (match := re.fullmatch(rf"/applications/{app}(?:/guilds/(\d+))?/commands", p)):
            self._bot_auth(request)
            scope = match[1] or "global"
            synced = []
            for command in body:
                synced.append({
                    "id": self.snowflake(), "application_id": self.application_id, "version": self.snowflake(),
                    "type": command.get("type", 1), "description": command.get("description", ""),
                    "options": command.get("options", []), "default_member_permissions": None, "nsfw": False,
                    **({"guild_id": scope} if match[1] else {}), **command,
                })
            self.commands[scope] = synced
            return 200, synced
        if m == "POST" and (match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p)):
            return self._callback(match[1], match[2], call)
        if match := re.fullmatch(rf"/webhooks/({app}|\d+)/([^/]+)", p):
            if m == "POST":
                return self._followup(self._sent(match[1], match[2]), call)
        if match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", p):
            sent = self._sent(match[1], match[2])
            message_id = sent.original_id if match[3] == "@original" else match[3]
            if message_id is None or message_id not in sent.message_ids:
                raise DiscordError(404, 10008, "Unknown Message")
            message = self.messages[message_id]
            if m == "GET":
                return 200, message
            if m == "PATCH":
                self._apply(message, body, call.files)
                if sent.loading and message_id == sent.original_id:
                    sent.loading = False
                    message["flags"] &= ~LOADING
                return 200, message
            if m == "DELETE":
                del self.messages[message_id]
                return 204, None
        if m == "POST" and (match := re.fullmatch(r"/channels/(\d+)/messages", p)):
            self._bot_auth(request)
            if match[1] != self.channel_id:
                raise DiscordError(404, 10003, "Unknown Channel")
            return 200, self._message(body, call.files)
        self.unexpected.append(call)
        raise DiscordError(404, 0, f"404: emulator has no route for {m} {p}")

    def _callback(self, interaction_id: str, token: str, call: Call) -> tuple[int, Any]:
        sent = self.interactions.get(token)
        if sent is None or sent.id != interaction_id:
            raise DiscordError(404, 10062, "Unknown interaction")
        if time.monotonic() - sent.sent_at > self.response_deadline_s:
            sent.refused.append(call)
            raise DiscordError(404, 10062, "Unknown interaction")
        if sent.callbacks:
            sent.refused.append(call)
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        kind, data = call.json["type"], call.json.get("data") or {}
        try:
            self._validate(data)
        except DiscordError:
            sent.refused.append(call)
            raise
        sent.callbacks.append(call)
        message = None
        if kind == CHANNEL_MESSAGE:
            message = self._message(data, call.files, flags=int(data.get("flags") or 0) & EPHEMERAL,
                                    webhook=True, interaction=sent)
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            message = self._message({}, [], flags=(int(data.get("flags") or 0) & EPHEMERAL) | LOADING,
                                    webhook=True, interaction=sent)
            sent.loading = True
        elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            if "message" not in sent.payload:
                raise DiscordError(400, 50035, "Invalid Form Body: this interaction has no message to update")
            message = self.messages[sent.payload["message"]["id"]]
            if kind == UPDATE_MESSAGE:
                self._apply(message, data, call.files)
        elif kind != MODAL:
            raise DiscordError(400, 50035, f"Invalid Form Body: unknown callback type {kind}")
        if message is not None:
            sent.original_id = message["id"]
            sent.message_ids.append(message["id"])
        if call.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        return 200, {
            "interaction": {
                "id": sent.id, "type": sent.payload["type"],
                **({"response_message_id": message["id"],
                    "response_message_loading": bool(message["flags"] & LOADING),
                    "response_message_ephemeral": bool(message["flags"] & EPHEMERAL)} if message else {}),
            },
            "resource": {"type": kind, **({"message": message} if message else {})},
        }

    def _followup(self, sent: SentInteraction, call: Call) -> tuple[int, Any]:
        if not sent.callbacks:
            raise DiscordError(404, 10015, "Unknown Webhook")  # Discord needs a response first
        body = call.json or {}
        if sent.loading and sent.original_id is not None:
            # The first follow-up after a "thinking" response replaces it (and keeps its visibility).
            message = self.messages[sent.original_id]
            self._apply(message, body, call.files)
            message["flags"] &= ~LOADING
            sent.loading = False
        else:
            message = self._message(body, call.files, flags=int(body.get("flags") or 0) & EPHEMERAL,
                                    webhook=True, interaction=sent)
            sent.message_ids.append(message["id"])
        if call.query.get("wait") not in ("1", "true", "True"):
            return 204, None
        return 200, message
