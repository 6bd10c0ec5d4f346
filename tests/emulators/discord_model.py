"""What the Discord emulator records and answers with: constants, recorded calls, sent interactions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SPOILER = 1 << 3  # an attachment's IS_SPOILER flag: Discord sets it for a file named SPOILER_...
MANAGE_GUILD = 1 << 5  # the Manage Server permission
EVERYONE_PERMISSIONS = "2248473465835073"  # what @everyone may do in the emulated guild (no Manage Server)

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
