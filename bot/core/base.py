"""What every use case shares: the settings, the store, the queue and the gallery."""

from __future__ import annotations

from storage.gallery import Gallery
from storage.store import Member, Store
from bot.core.types import MemberRef
from bot.queue import JobQueue
from viper.contracts.config import Settings
from viper.contracts.errors import NotYours


class CoreBase:
    def __init__(self, settings: Settings, store: Store, queue: JobQueue, gallery: Gallery):
        self.settings = settings
        self.store = store
        self.queue = queue
        self.gallery = gallery

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
