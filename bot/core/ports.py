"""The output port: what the core needs from a chat platform to follow a job and deliver it.

Each adapter implements `JobOutput` for one job's chat (a Telegram chat and status message, a
Discord interaction webhook or channel): an /imagine, or a /done whose profile is being built. The
core decides what to say and when; the port only says it. Methods return False (or raise `DeliveryRefused`) instead of raising platform errors.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.types import Delivery, Posted
from storage.store import Profile


class DeliveryRefused(Exception):
    """The platform refused the image for good (member blocked the bot, chat gone): do not retry."""


class JobOutput(Protocol):
    done_line: str  # what the status message says once the image is delivered

    async def status(self, text: str, *, final: bool = False) -> bool:
        """Show `text` in the job's status message (edited in place; sent anew where it cannot be).

        `final` takes the Cancel button away. False when the platform refused.
        """

    async def new_status(self, text: str) -> bool:
        """Send a fresh status message (the old one is gone); False where the platform has no way."""

    async def image(self, delivery: Delivery) -> Posted | bool:
        """Post the image with its caption, notes and action buttons (`delivery.rows`, drawn by the
        adapter). Where it landed (`Posted`: the core remembers it, so a reply to it is a comment on
        the image), or True when that is unknown. False on a passing failure (the job stays
        undelivered and the next start retries); `DeliveryRefused` when retrying cannot help."""

    async def profile_ready(self, profile: Profile) -> None:
        """Show a profile whose extraction finished after a restart, with its review buttons."""

    async def text(self, text: str) -> None:
        """A plain message in the job's chat, used when the status message cannot be edited."""
