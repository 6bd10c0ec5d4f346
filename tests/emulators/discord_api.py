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
- `POST /channels/{id}/messages`: plain bot messages, in a guild channel or a direct-message
  channel (refused with 50007 for a member in `dms_closed`).
- `POST /users/@me/channels`: the direct-message channel with a member who has used the bot.
- `GET /attachments/{id}/{filename}`: the bytes of an uploaded file (the bot's, or one a member
  picked for an attachment option with `attachment()`); every download is recorded (`downloads`).
Bot endpoints check the `Authorization: Bot <token>` header; webhook endpoints check the token.

Gateway (a websocket at `/gateway`): HELLO, heartbeat ACKs, IDENTIFY -> READY then GUILD_CREATE for
one guild with three text channels ("art", where members act unless told; "general"; the
age-restricted "after-dark", `nsfw`) and two roles (@everyone, without Manage Server, and
"Moderators", with it: `grant_manage_guild(user)`); RESUME is refused with INVALID_SESSION. Frames are plain JSON text
(discord.py accepts them even when it asked for compression). `send_interaction` pushes an
`INTERACTION_CREATE` dispatch built from the JSON Discord sends: type 2 (slash command with
`data.options` typed as the command was synced, within its choices and ranges, files in
`data.resolved.attachments`), type 3 (a message component, carrying the message it sits on: a button with
`data.component_type` 2, or a string select menu with `data.component_type` 3 and the chosen
`data.values`) and type 5 (modal submit with `data.components`).

A member's interactions carry their roles and resolved permissions and the channel they act in
(`channel_id=`, with its `nsfw` flag); a command synced with `default_member_permissions` is offered
only to members who have them, unless the server opened it to everyone (`open_to_everyone(name)`).
A group's subcommand is named with it (`slash_command("admin pause", user)`). An uploaded file
named `SPOILER_...` is recorded with the IS_SPOILER attachment flag (`SPOILER`), as Discord does.

Messages are checked against the component limits Discord enforces (custom_id length, labels,
at most 5 action rows of 5 buttons or one select menu, 1 to 25 select options, custom_ids unique
within a message, a modal's title, labels and placeholders); a payload that breaks one is refused
with 50035, as Discord refuses it. Components work the same on webhook (interaction) messages,
ephemeral or not, on channel messages and on direct messages.

Every REST call is recorded (`calls`), with its JSON body (or `payload_json`) and uploaded files, and
every message the bot creates is kept (`messages`) in the shape Discord returns.

The code: this module holds the emulator's state, life cycle, waiting and the gateway; the rest is
mixed in from discord_rest.py (the REST routes), discord_member.py (the interactions a member's
client sends) and discord_messages.py (messages and their limits), over discord_model.py (the
constants and recorded objects, all importable from here as before).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from typing import Any, Callable

from aiohttp import WSMsgType, web

from tests.emulators.discord_member import MemberClient
from tests.emulators.discord_messages import MessageStore
from tests.emulators.discord_model import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    DISCORD_EPOCH_MS,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    LOADING,
    MANAGE_GUILD,
    MODAL,
    SPOILER,
    UPDATE_MESSAGE,
    Call,
    DiscordError,
    SentInteraction,
    Upload,
    _iso,
)
from tests.emulators.discord_rest import RestApi

__all__ = [
    "CHANNEL_MESSAGE",
    "DEFERRED_CHANNEL_MESSAGE",
    "DEFERRED_UPDATE_MESSAGE",
    "DISCORD_EPOCH_MS",
    "EPHEMERAL",
    "LOADING",
    "MANAGE_GUILD",
    "MODAL",
    "SPOILER",
    "UPDATE_MESSAGE",
    "Call",
    "DiscordEmulator",
    "DiscordError",
    "SentInteraction",
    "Upload",
]


class DiscordEmulator(RestApi, MemberClient, MessageStore):
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
        # The guild's text channels: "art" (where members act unless told), "general", and the
        # age-restricted "after-dark" (`nsfw`, as a server marks a channel age-restricted).
        self.general_channel_id = str(channel_id + 1)
        self.nsfw_channel_id = str(channel_id + 2)
        self.channels: dict[str, dict] = {
            self.channel_id: self._text_channel(self.channel_id, "art", 0),
            self.general_channel_id: self._text_channel(self.general_channel_id, "general", 1),
            self.nsfw_channel_id: self._text_channel(self.nsfw_channel_id, "after-dark", 2, nsfw=True),
        }
        # Members with the "Moderators" role, which grants Manage Server; @everyone lacks it.
        self.moderator_role_id = str(guild_id + 10)
        self.moderators: set[str] = set()
        # Commands the server's admins opened to everyone (Server Settings > Integrations), whatever
        # their default_member_permissions say.
        self.opened: set[str] = set()
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
        self.downloads: list[str] = []  # the id of every attachment fetched from the emulated CDN, in order
        self.commands: dict[str, list[dict]] = {}  # "global" or a guild id -> synced commands
        self.interactions: dict[str, SentInteraction] = {}  # by token
        self.users: dict[str, dict] = {}  # every member who sent an interaction, by id
        self.dm_channels: dict[str, dict] = {}  # a member's id -> the bot's direct-message channel with them
        self.dms_closed: set[str] = set()  # members who do not accept direct messages from the bot
        self.identified = 0  # IDENTIFY payloads received (one per client start)
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- life cycle --------------------------------------------------------------------------------

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

    # -- ids and objects ---------------------------------------------------------------------------

    def snowflake(self) -> str:
        self._counter += 1
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (self._counter & 0x3FFFFF))

    @staticmethod
    def user(user_id: str | int, name: str) -> dict:
        return {"id": str(user_id), "username": name, "global_name": name.title(), "discriminator": "0",
                "avatar": None, "public_flags": 0}

    def _text_channel(self, channel_id: str, name: str, position: int, *, nsfw: bool = False) -> dict:
        return {"id": channel_id, "type": 0, "guild_id": self.guild_id, "name": name, "position": position,
                "permission_overwrites": [], "nsfw": nsfw, "parent_id": None, "topic": None,
                "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}

    def channel(self, channel_id: str | None = None) -> dict:
        """A text channel of the guild (the "art" channel unless told), as Discord describes it."""
        return dict(self.channels[str(channel_id or self.channel_id)])

    def grant_manage_guild(self, user: dict) -> None:
        """Give a member the Moderators role (Manage Server), as a server's owner would."""
        self.moderators.add(user["id"])

    def open_to_everyone(self, name: str) -> None:
        """Let every member use a command whatever its default_member_permissions, as a server's
        admins can in Server Settings > Integrations."""
        self.opened.add(name)

    def permissions_of(self, user: dict) -> int:
        """A member's permissions in the guild: @everyone's, plus Manage Server for a moderator."""
        everyone = int(EVERYONE_PERMISSIONS)
        return everyone | MANAGE_GUILD if user["id"] in self.moderators else everyone

    def guild(self) -> dict:
        return {
            "id": self.guild_id, "name": "Emulated guild", "icon": None, "owner_id": self.owner["id"],
            "unavailable": False, "member_count": 2, "large": False, "features": [], "preferred_locale": "en-US",
            "roles": [{"id": self.guild_id, "name": "@everyone", "permissions": EVERYONE_PERMISSIONS, "position": 0,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0},
                      {"id": self.moderator_role_id, "name": "Moderators", "permissions": str(MANAGE_GUILD),
                       "position": 1, "color": 0, "hoist": False, "managed": False, "mentionable": False,
                       "flags": 0}],
            "emojis": [], "stickers": [], "channels": [dict(c) for c in self.channels.values()], "threads": [],
            "members": [],
            "voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
            "joined_at": _iso(), "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "system_channel_flags": 0, "premium_tier": 0,
            "nsfw_level": 0, "premium_progress_bar_enabled": False,
        }

    # -- waiting -----------------------------------------------------------------------------------

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

    # -- gateway -----------------------------------------------------------------------------------

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
