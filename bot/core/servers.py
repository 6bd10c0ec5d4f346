"""Busy servers: limits, moderation of text, admin controls and /usage, once for both platforms.

A `Place` says where a request comes from: a Discord server or a Telegram group (its *scope*), the
channel, whether the member is one of its admins, whether the channel is age-restricted. Adapters
build it; the core decides.

- Limits: `[limits] images_per_day` and `cooldown_s` (each overridable per scope by its admins with
  /admin limits; admins exempt when `[limits] exempt_admins`), beside `[bot] max_queued_per_member`.
- Moderation: `[moderation] blocked_terms` (whole words, any case) and `blocked_patterns` (regular
  expressions), plus each scope's own terms (/admin block), on prompts, `--no`, /like and /dislike
  features and comments. A hit is refused without repeating the term, and recorded for admins.
- Admin controls: where /imagine works, limits, blocked terms, pause/resume, stats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot import messages
from bot.core.base import CoreBase
from bot.core.moderation import Refused
from bot.core.types import MemberRef
from storage.store import Member
from viper.contracts.errors import InvalidArgument, NotYours

MAX_SCOPE_TERMS = 200
MAX_TERM_CHARS = 60


@dataclass(frozen=True)
class Place:
    """Where a request comes from. `scope_id` None: a private chat (no server rules but the config's)."""

    platform: str
    scope_id: str | None = None
    channel_id: str | None = None
    is_admin: bool = False
    nsfw_channel: bool = False

    @property
    def scope(self) -> str | None:
        return f"{self.platform}:{self.scope_id}" if self.scope_id else None


class ServerFlows(CoreBase):
    # -- limits ---------------------------------------------------------------------------------------

    async def check_limits(self, who: MemberRef, member: Member, place: Place | None) -> None:
        """Refuse a new image when the scope is paused, the channel is not one where /imagine works,
        or the member is over the daily quota or inside the cooldown; each refusal says which limit
        and when to try again."""
        scope = place.scope if place else None
        server = await self.store.scope_settings(scope) if scope else None
        if server is not None and server.paused:
            await self._refuse(who, scope, "paused", what="imagine")
            raise Refused(messages.PAUSED_HERE, rule="paused", argument="paused")
        if server is not None and server.channels and place.channel_id not in server.channels and not place.is_admin:
            await self._refuse(who, scope, "channel", what="imagine")
            raise Refused(messages.not_this_channel(place.platform, server.channels), rule="channel", argument="channel")
        if place is not None and place.is_admin and self.settings.limits.exempt_admins:
            return
        per_day, cooldown = self.limits_for(server)
        count, latest = await self.store.images_today(member.id)
        now = datetime.now(timezone.utc)
        if per_day and count >= per_day:
            await self._refuse(who, scope, "images_per_day", what="imagine")
            raise Refused(messages.over_daily_limit(per_day, _until_midnight(now)), rule="images_per_day",
                          argument="images_per_day")
        if cooldown and latest:
            since = now - datetime.fromisoformat(latest).replace(tzinfo=timezone.utc)
            if since.total_seconds() < cooldown:
                await self._refuse(who, scope, "cooldown", what="imagine")
                wait = max(1, int(cooldown - since.total_seconds() + 0.999))
                raise Refused(messages.cooling_down(wait), rule="cooldown", argument="cooldown")

    def limits_for(self, server) -> tuple[int, float]:
        limits = self.settings.limits
        per_day = server.images_per_day if server is not None and server.images_per_day is not None else limits.images_per_day
        cooldown = server.cooldown_s if server is not None and server.cooldown_s is not None else limits.cooldown_s
        return per_day, cooldown

    async def usage(self, who: MemberRef, place: Place | None = None) -> str:
        """/usage: today's count, what is left, when it resets, and queued images with their places."""
        member = await self.member(who)
        server = await self.store.scope_settings(place.scope) if place and place.scope else None
        per_day, cooldown = self.limits_for(server)
        count, _ = await self.store.images_today(member.id)
        exempt = place is not None and place.is_admin and self.settings.limits.exempt_admins
        places = []
        for job_id in await self.store.queued_jobs(member_id=member.id):
            places.append(await self.queue.position(job_id) if self.queue is not None else None)
        return messages.usage(count, 0 if exempt else per_day, _until_midnight(datetime.now(timezone.utc)),
                              0 if exempt else cooldown, places)

    # -- admin controls --------------------------------------------------------------------------------

    def _admin_scope(self, place: Place | None) -> str:
        if place is None or place.scope is None:
            raise InvalidArgument(messages.ADMIN_ONLY_IN_SERVERS, argument="admin")
        if not place.is_admin:
            raise NotYours("only the admins here can do that", argument="admin")
        return place.scope

    async def admin_channels(self, place: Place, channel_ids: list[str] | None) -> str:
        """Where /imagine works in this server (`channel_ids` None: show; []: everywhere)."""
        scope = self._admin_scope(place)
        server = await self.store.scope_settings(scope)
        if channel_ids is not None:
            server.channels = list(dict.fromkeys(str(c) for c in channel_ids))
            await self.store.save_scope_settings(server)
        return messages.admin_channels(place.platform, server.channels)

    async def admin_limits(self, place: Place, images_per_day: int | None = None, cooldown_s: float | None = None,
                           *, reset: bool = False) -> str:
        scope = self._admin_scope(place)
        server = await self.store.scope_settings(scope)
        if reset:
            server.images_per_day = server.cooldown_s = None
        if images_per_day is not None:
            if not 0 <= images_per_day <= 100_000:
                raise InvalidArgument("images per day must be from 0 (unlimited) to 100000", argument="images_per_day")
            server.images_per_day = images_per_day
        if cooldown_s is not None:
            if not 0 <= cooldown_s <= 86_400:
                raise InvalidArgument("the cooldown must be from 0 to 86400 seconds", argument="cooldown_s")
            server.cooldown_s = float(cooldown_s)
        await self.store.save_scope_settings(server)
        per_day, cooldown = self.limits_for(server)
        return messages.admin_limits(per_day, cooldown, server.images_per_day is not None or server.cooldown_s is not None,
                                     self.settings.limits.exempt_admins)

    async def admin_block(self, place: Place, action: str, term: str = "") -> str:
        scope = self._admin_scope(place)
        term = " ".join(term.split()).lower()
        if action == "list":
            return messages.admin_terms(await self.store.scope_terms(scope), len(self.settings.moderation.blocked_terms))
        if not term or len(term) > MAX_TERM_CHARS:
            raise InvalidArgument(f"give a word or phrase of at most {MAX_TERM_CHARS} characters", argument="term")
        if action == "add":
            if len(await self.store.scope_terms(scope)) >= MAX_SCOPE_TERMS:
                raise InvalidArgument(f"at most {MAX_SCOPE_TERMS} terms can be blocked here", argument="term")
            added = await self.store.add_scope_term(scope, term)
            return messages.term_added(added)
        if action == "remove":
            return messages.term_removed(await self.store.remove_scope_term(scope, term))
        raise InvalidArgument("use add, remove or list", argument="action")

    async def admin_pause(self, place: Place, paused: bool) -> str:
        """Pause or resume generation in this server; its queued images wait (held in the queue)."""
        scope = self._admin_scope(place)
        server = await self.store.scope_settings(scope)
        if server.paused == paused:
            return messages.already_paused(paused)
        if paused:
            server.held_jobs = await self.queue.hold(await self.store.queued_jobs(scope=scope))
        else:
            await self.queue.release(server.held_jobs)
            server.held_jobs = {}
        server.paused = paused
        await self.store.save_scope_settings(server)
        return messages.paused_now(paused, len(server.held_jobs))

    async def admin_stats(self, place: Place) -> str:
        scope = self._admin_scope(place)
        images, members = await self.store.scope_stats(scope)
        by_rule: dict[str, int] = {}
        for refusal in await self.store.refusals(scope):
            by_rule[refusal.rule] = by_rule.get(refusal.rule, 0) + 1
        depth = await self.queue.depth() if self.queue is not None else 0
        return messages.admin_stats(images, members, depth, by_rule)


def _until_midnight(now: datetime) -> timedelta:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return tomorrow - now
