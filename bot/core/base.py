"""What every use case shares: the settings, the store, the queue and the gallery."""

from __future__ import annotations

from bot import messages
from bot.core.moderation import Refused, first_hit
from storage.gallery import Gallery
from storage.store import Member, Store
from bot.core.types import MemberRef
from bot.queue import JobQueue
from viper.contracts.config import Settings
from viper.contracts.errors import NotYours


class NoMetrics:
    """What the core counts, when the process exports no metrics (`[metrics] port = 0`)."""

    def count_refusal(self, rule: str) -> None:
        pass


class CoreBase:
    def __init__(self, settings: Settings, store: Store, queue: JobQueue, gallery: Gallery, metrics=None):
        self.settings = settings
        self.store = store
        self.queue = queue
        self.gallery = gallery
        self.metrics = metrics or NoMetrics()  # anything with count_refusal(rule)

    async def member(self, who: MemberRef) -> Member:
        """The member, created on first sight."""
        return await self.store.member(who.platform, who.user_id, who.display_name)

    async def known_member(self, who: MemberRef) -> Member | None:
        """The member if the bot has met them; nothing is created."""
        return await self.store.find_member(who.platform, who.user_id)

    @property
    def min_comments(self) -> int:
        return self.settings.bot.min_comments

    @staticmethod
    def check_owner(who: MemberRef, owner_user_id: str | int | None) -> None:
        """Buttons that change a member's data carry that member's id: anyone else is refused."""
        if owner_user_id is None or str(owner_user_id) != who.user_id:
            raise NotYours("these buttons belong to someone else", argument="owner")

    # -- moderation --------------------------------------------------------------------------------

    async def moderate(self, who: MemberRef, text: str, what: str, place=None) -> None:
        """Refuse `text` (a prompt, `--no` text, a feature, a comment) when it breaks a rule: the
        config's terms and patterns and, in a server or group, its admins' terms."""
        rules = self.settings.moderation
        scope = place.scope if place else None
        terms = list(rules.blocked_terms) + (await self.store.scope_terms(scope) if scope else [])
        hit = first_hit(text, terms, list(rules.blocked_patterns))
        if hit is None:
            return
        kind, which = hit
        await self._refuse(who, scope, kind, which, what, text if rules.log_text else None)
        raise Refused(messages.moderated(what), rule=kind, detail=which, argument="moderation")

    async def _refuse(self, who: MemberRef, scope: str | None, rule: str, detail: str = "", what: str = "",
                      text: str | None = None) -> None:
        member = await self.member(who)  # admins see who was refused
        await self.store.record_refusal(scope, member.account_id, rule, detail, what, text)
        self.metrics.count_refusal(rule)
