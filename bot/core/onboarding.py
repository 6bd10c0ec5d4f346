"""Onboarding use cases: show the gallery, take comments, pause, start over, build the profile.

Both platforms drive the same state (`OnboardingState`, in SQLite): Telegram shows pages of numbered
images, Discord one image at a time; a member can stop on either and carry on after a restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

from bot import messages
from bot.core.base import CoreBase
from bot.core.text import visible
from bot.core.types import GalleryPage, MemberRef, OnboardingStatus, PagerView, PageMarks
from bot.commands import TELEGRAM
from storage.gallery import GalleryImage
from storage.store import Member, Profile
from viper.contracts import jobs
from viper.contracts.errors import InvalidArgument, ViperError
from viper.contracts.states import JobKind, JobState, OnboardingState

RESULT_PREFIX = "result:"  # a comment's image id when it answers a generated image, not a gallery one
BEING_BUILT = "your taste profile is being built right now; it will arrive in a moment"


class OnboardingFlows(CoreBase):
    # -- the gallery ---------------------------------------------------------------------------

    def gallery_page(self, page: int) -> GalleryPage:
        size = self.settings.bot.gallery_page_size
        pages = max(1, -(-len(self.gallery) // size))
        page = page % pages
        return GalleryPage(page, pages, self.gallery.page(page, size), page * size + 1)

    def image_by_number(self, number: int) -> GalleryImage | None:
        if 1 <= number <= len(self.gallery):
            return self.gallery.images[number - 1]
        return None

    def image_number(self, image_id: str) -> int | None:
        for i, img in enumerate(self.gallery.images, start=1):
            if img.id == image_id:
                return i
        return None

    def _wrap(self, number: int) -> int:
        total = len(self.gallery)
        if total == 0:
            raise ViperError("the onboarding gallery is empty; the operator must add images")
        return (number - 1) % total + 1

    # -- state ---------------------------------------------------------------------------------

    async def _check_not_extracting(self, member: Member) -> None:
        """One onboarding at a time: while a member's profile is being built, they wait for it.

        A bot that died mid-extraction leaves the state behind; after the job timeout it no longer
        blocks the member.
        """
        state = await self.store.onboarding(member.id)
        if state is None or state.state != OnboardingState.EXTRACTING:
            return
        try:
            since = datetime.fromisoformat(state.updated_at).replace(tzinfo=timezone.utc)
        except ValueError:
            return
        if datetime.now(timezone.utc) - since < timedelta(seconds=self.settings.bot.job_timeout_s):
            raise InvalidArgument(BEING_BUILT, argument="onboarding")

    async def _active_member(self, who: MemberRef) -> Member:
        """The member, with their onboarding (re)activated at its saved page: commenting carries on
        a paused or finished onboarding, but never one whose profile is being built."""
        member = await self.member(who)
        await self._check_not_extracting(member)
        state = await self.store.onboarding(member.id)
        if state is None or state.state != OnboardingState.ACTIVE:
            await self.store.set_onboarding(member.id, OnboardingState.ACTIVE, state.page if state else 0)
        return member

    async def onboarding_state(self, who: MemberRef) -> OnboardingState | None:
        member = await self.known_member(who)
        state = await self.store.onboarding(member.id) if member else None
        return state.state if state else None

    async def start_onboarding(self, who: MemberRef) -> OnboardingStatus:
        """Begin (or resume, keeping earlier comments) a member's onboarding at their saved page."""
        member = await self.member(who)
        await self._check_not_extracting(member)
        state = await self.store.onboarding(member.id)
        count = await self.store.comment_count(member.id)
        resumed = state is not None and state.state in (OnboardingState.ACTIVE, OnboardingState.PAUSED) and count > 0
        page = state.page if resumed else 0
        await self.store.set_onboarding(member.id, OnboardingState.ACTIVE, page)
        return OnboardingStatus(count, self.min_comments, self.gallery_page(page), resumed)

    async def intro(self, who: MemberRef, status: OnboardingStatus) -> str:
        has_profile = await self.profile(who) is not None
        return messages.intro(status.comments, status.needed, status.resumed, who.platform, has_profile)

    async def next_page(self, who: MemberRef) -> GalleryPage:
        member = await self.member(who)
        state = await self.store.onboarding(member.id)
        page = self.gallery_page((state.page if state else -1) + 1)
        await self.store.set_onboarding(member.id, OnboardingState.ACTIVE, page.page)
        return page

    async def page_marks(self, who: MemberRef) -> PageMarks:
        """The images the member commented on, and the one they tapped and are typing about."""
        pending = await self.chosen_image(who)
        return PageMarks(set(await self.comments(who)), pending.id if pending else None)

    async def page_footer(self, who: MemberRef, page: GalleryPage) -> str:
        return messages.page_footer(page.page, page.pages, await self.comment_count(who), self.min_comments)

    # -- comments ------------------------------------------------------------------------------

    def check_comment(self, text: str | None) -> str:
        text = visible(text, keep_newlines=True)
        if not text:
            raise InvalidArgument("the comment is empty", argument="comment")
        limit = self.settings.bot.max_comment_chars
        if len(text) > limit:
            raise InvalidArgument(
                f"the comment is {len(text)} characters long; please keep it under {limit}", argument="comment"
            )
        return text

    async def add_comment(self, who: MemberRef, image_id: str, text: str | None) -> int:
        """Store a member's comment on a gallery image; returns how many comments they have."""
        text = self.check_comment(text)
        if self.gallery.get(image_id) is None:
            raise InvalidArgument(f"there is no gallery image {image_id!r}", argument="image")
        await self.moderate(who, text, "comment")
        member = await self._active_member(who)
        async with self.store.transaction():
            count = await self.store.add_comment(member.id, image_id, text)
            await self.store.set_onboarding_position(member.id, clear_pending=True)
        return count

    def comment_ack(self, count: int, platform: str = TELEGRAM) -> str:
        return messages.comment_ack(count, self.min_comments, platform)

    async def check_can_comment(self, who: MemberRef) -> None:
        """Raise the friendly error `add_comment` would, before a platform opens a comment form."""
        member = await self.known_member(who)
        if member is not None:
            await self._check_not_extracting(member)

    async def comments(self, who: MemberRef) -> dict[str, str]:
        """The member's comments by gallery image id (a stranger has none; nothing is created)."""
        member = await self.known_member(who)
        if member is None:
            return {}
        return {c.image_id: c.text for c in await self.store.comments(member.id) if c.image_id}

    async def comment_count(self, who: MemberRef) -> int:
        member = await self.known_member(who)
        return await self.store.comment_count(member.id) if member else 0

    async def choose_image(self, who: MemberRef, number: int) -> GalleryImage:
        """A member picked gallery image `number` (1-based) to comment on with their next message."""
        image = self.image_by_number(number)
        if image is None:
            raise InvalidArgument(f"there is no image #{number}; pick a number from 1 to {len(self.gallery)}", argument="image")
        member = await self._active_member(who)  # a tap on an old keyboard carries on onboarding
        await self.store.set_onboarding_position(member.id, pending_image_id=image.id)
        return image

    async def chosen_image(self, who: MemberRef) -> GalleryImage | None:
        """The image the member tapped and has not commented on yet, if any."""
        member = await self.known_member(who)
        state = await self.store.onboarding(member.id) if member else None
        if state is None or state.state != OnboardingState.ACTIVE or not state.pending_image_id:
            return None
        return self.gallery.get(state.pending_image_id)

    async def unplaced_text(self, who: MemberRef) -> str:
        """The answer to a plain message that names no image: which image, or what the bot can do."""
        member = await self.known_member(who)
        state = await self.store.onboarding(member.id) if member else None
        count = await self.store.comment_count(member.id) if member else 0
        if state is not None and state.state == OnboardingState.ACTIVE:
            return messages.which_image(count, self.min_comments)
        return messages.idle_text(count if state is not None and state.state == OnboardingState.PAUSED else None)

    # -- the one-image pager (Discord) ---------------------------------------------------------

    async def save_position(self, who: MemberRef, index: int) -> None:
        """Remember which gallery image (0-based) a one-image-at-a-time pager shows."""
        member = await self.member(who)
        if await self.store.onboarding(member.id) is None:
            await self.store.set_onboarding(member.id, OnboardingState.ACTIVE, 0)
        await self.store.set_onboarding_position(member.id, position=index % max(1, len(self.gallery)))

    async def position(self, who: MemberRef) -> int:
        member = await self.known_member(who)
        state = await self.store.onboarding(member.id) if member else None
        return state.position if state else 0

    def next_uncommented(self, number: int, commented: dict[str, str]) -> int:
        """The first image after `number` (wrapping around) the member has not commented on."""
        total = len(self.gallery)
        for step in range(1, total + 1):
            candidate = self._wrap(number + step)
            image = self.image_by_number(candidate)
            if image is not None and image.id not in commented:
                return candidate
        return self._wrap(number + 1)  # every image has a comment: just step on

    async def pager(self, who: MemberRef, number: int | None = None, *, header: str = "", skip_from: int | None = None) -> PagerView:
        """Gallery image `number` (wrapping around; None: where the member left off; `skip_from`: the
        next image after it not commented on). Showing an image saves the pager's position."""
        commented = await self.comments(who)
        if skip_from is not None:
            number = self.next_uncommented(skip_from, commented)
        elif number is None:
            number = await self.position(who) + 1
        number = self._wrap(number)
        image = self.image_by_number(number)
        if image is None:
            raise ViperError(f"gallery image {number} is missing; the operator must check the gallery")
        await self.save_position(who, number - 1)
        earlier = commented.get(image.id)
        count, need = len(commented), self.min_comments
        caption = messages.pager_caption(number, len(self.gallery), earlier, count, need, header)
        return PagerView(number, len(self.gallery), image, earlier, count, count >= need, caption)

    async def comment_and_move_on(self, who: MemberRef, image_id: str, text: str | None) -> PagerView:
        """A comment typed into the pager: store it, acknowledge, and show the next image not commented on."""
        count = await self.add_comment(who, image_id, text)
        ack = self.comment_ack(count, who.platform)
        return await self.pager(who, header=ack, skip_from=self.image_number(image_id) or 0)

    # -- pause, start over ---------------------------------------------------------------------

    async def cancel_onboarding(self, who: MemberRef) -> int:
        """Pause onboarding; the comments are kept for a later /start. Returns how many there are."""
        member = await self.member(who)
        state = await self.store.onboarding(member.id)
        if state is not None and state.state == OnboardingState.ACTIVE:
            async with self.store.transaction():
                await self.store.set_onboarding(member.id, OnboardingState.PAUSED)
                await self.store.set_onboarding_position(member.id, clear_pending=True)
        return await self.store.comment_count(member.id)

    async def pause(self, who: MemberRef) -> str:
        """/cancel: pause an active onboarding; the answer says what happened."""
        state = await self.onboarding_state(who)
        if state != OnboardingState.ACTIVE:
            return messages.nothing_to_pause(state == OnboardingState.PAUSED)
        return messages.paused(await self.cancel_onboarding(who))

    async def redo_onboarding(self, who: MemberRef) -> OnboardingStatus:
        """Start over: forget the member's comments (their profile stays until a new one is built)."""
        member = await self.member(who)
        await self._check_not_extracting(member)
        async with self.store.transaction():
            await self.store.clear_comments(member.id)
            await self.store.set_onboarding(member.id, OnboardingState.ACTIVE, 0)
            await self.store.set_onboarding_position(member.id, position=0, clear_pending=True)
        return OnboardingStatus(0, self.min_comments, self.gallery_page(0), resumed=False)

    async def ask_redo(self, who: MemberRef) -> str | None:
        """The question before starting over, or None when there is nothing to delete (start at once)."""
        member = await self.known_member(who)
        if member is not None:
            await self._check_not_extracting(member)
        count = await self.comment_count(who)
        return messages.ask_redo(count, who.platform) if count else None

    # -- building the profile ------------------------------------------------------------------

    async def finish_onboarding(
        self, who: MemberRef, chat_ref: dict | None = None, on_started: Callable[[int], Awaitable[None]] | None = None,
    ) -> Profile:
        """Extract the member's liked/disliked features from their comments and save the profile.

        The claim "one extraction per member at a time" is one SQL statement; `on_started(count)` is
        called once the claim holds (to say "Analysing...").
        """
        member = await self.member(who)
        count = await self.store.comment_count(member.id)
        if count < self.min_comments:
            raise InvalidArgument(
                f"you have {count} comment(s); at least {self.min_comments} are needed before /done",
                argument="comments",
            )
        profile, _ = await self.rebuild_profile(member, who.platform, chat_ref, on_started)
        return profile

    async def rebuild_profile(
        self, member: Member, platform: str, chat_ref: dict | None = None,
        on_started: Callable[[int], Awaitable[None]] | None = None,
    ) -> tuple[Profile, int]:
        """Run extraction over all of the member's comments (on gallery images and on results) and
        save the profile; returns it and the id of the snapshot of the profile it replaced (Undo)."""
        if not await self.store.claim_extraction(member.id, self.settings.bot.job_timeout_s):
            raise InvalidArgument(BEING_BUILT, argument="onboarding")
        try:
            comments = await self.store.comments(member.id)
            request = jobs.ExtractRequest(
                member_id=member.id, backend=self.settings.extraction.backend,
                comments=[await self._comment_payload(c.image_id, c.text) for c in comments],
            )
            if on_started is not None:
                await on_started(len(comments))
            job_id = await self._record_and_enqueue(
                member, JobKind.EXTRACT, platform, chat_ref or {}, "", jobs.EXTRACT_JOB, jobs.to_dict(request)
            )
        except BaseException:
            # Not queued (or stopped before we know): the member may try again at once. A job that
            # was recorded anyway is followed by the next start, which then finishes the profile.
            await asyncio.shield(self.store.set_onboarding(member.id, OnboardingState.ACTIVE))
            raise
        return await self._complete_extraction(job_id, member.id)

    async def complete_extraction(self, job_id: str, member_id: int) -> Profile:
        """Wait for an extraction job and save its profile; also what a restarted bot runs for an
        extraction the last one was waiting for."""
        profile, _ = await self._complete_extraction(job_id, member_id)
        return profile

    async def _complete_extraction(self, job_id: str, member_id: int) -> tuple[Profile, int]:
        deleted = InvalidArgument("your data was deleted while the profile was being built", argument="profile")
        try:
            raw = await self.queue.wait(job_id, timeout=self.settings.bot.job_timeout_s)
        except ViperError as e:
            if await self.store.job(job_id) is None:  # /forget took the job too
                raise deleted from e
            async with self.store.transaction():
                await self.store.update_job(job_id, JobState.FAILED, error=e.message)
                await self.store.set_onboarding(member_id, OnboardingState.ACTIVE)
            raise
        result = jobs.from_dict(jobs.ExtractResult, raw)
        if await self.store.job(job_id) is None:
            raise deleted  # the member ran /forget while their profile was being built: keep nothing
        async with self.store.transaction():
            snapshot = await self.store.snapshot_profile(member_id)
            await self.store.save_profile(member_id, result.liked, result.disliked, result.backend, result.backend_version)
            await self.store.set_onboarding(member_id, OnboardingState.DONE)
            await self.store.update_job(job_id, JobState.DELIVERED)
        return await self.store.profile(member_id), snapshot

    async def _comment_payload(self, image_id: str | None, text: str) -> jobs.Comment:
        """A comment as extraction reads it: with its gallery image (path and tags), or with the
        generated image it answers (a comment on a result: `result:<job id>`)."""
        if image_id and image_id.startswith(RESULT_PREFIX):
            record = await self.store.result(image_id[len(RESULT_PREFIX):])
            path = record.png_path if record is not None and Path(record.png_path).is_file() else None
            return jobs.Comment(text=text, image_id=image_id, image_tags=[], image_path=path)
        image = self.gallery.get(image_id) if image_id else None
        return jobs.Comment(
            text=text, image_id=image_id,
            image_tags=list(image.tags) if image else [],
            image_path=str(image.path) if image else None,
        )
