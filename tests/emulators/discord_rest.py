"""The REST side of the Discord emulator: reading requests, routing them, answering as Discord does."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web

from tests.emulators.discord_model import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    LOADING,
    MODAL,
    UPDATE_MESSAGE,
    Call,
    DiscordError,
    SentInteraction,
    Upload,
)


class RestApi:
    """The `/api/v10` routes and attachment downloads; mixed into `DiscordEmulator`, whose state
    (`calls`, `messages`, `interactions`, `commands`) they read and change."""

    async def _attachment(self, request: web.Request) -> web.Response:
        self.downloads.append(request.match_info["id"])
        await self._notify()
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
                entry = {
                    "id": self.snowflake(), "application_id": self.application_id, "version": self.snowflake(),
                    "type": command.get("type", 1), "description": command.get("description", ""),
                    "options": command.get("options", []), "default_member_permissions": None, "nsfw": False,
                    **({"guild_id": scope} if match[1] else {}), **command,
                }
                if entry["default_member_permissions"] is not None:  # Discord answers a permission set as a string
                    entry["default_member_permissions"] = str(entry["default_member_permissions"])
                synced.append(entry)
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
        if m == "POST" and p == "/users/@me/channels":
            self._bot_auth(request)
            return 200, self._dm_channel(str(body.get("recipient_id", "")))
        if m == "POST" and (match := re.fullmatch(r"/channels/(\d+)/messages", p)):
            self._bot_auth(request)
            if match[1] in self.channels:
                return 200, self._message(body, call.files, channel_id=match[1])
            recipient = next((u for u, c in self.dm_channels.items() if c["id"] == match[1]), None)
            if recipient is None:
                raise DiscordError(404, 10003, "Unknown Channel")
            if recipient in self.dms_closed:
                raise DiscordError(403, 50007, "Cannot send messages to this user")
            return 200, self._message(body, call.files, channel_id=match[1], guild_id=None)
        self.unexpected.append(call)
        raise DiscordError(404, 0, f"404: emulator has no route for {m} {p}")

    def _dm_channel(self, user_id: str) -> dict:
        """The direct-message channel with a member (made on first use, as Discord does)."""
        user = self.users.get(user_id)
        if user is None:
            raise DiscordError(400, 50033, "Invalid Recipient(s)")
        if user_id not in self.dm_channels:
            self.dm_channels[user_id] = {"id": self.snowflake(), "type": 1, "recipients": [user],
                                         "last_message_id": None, "flags": 0}
        return self.dm_channels[user_id]

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
