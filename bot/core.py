"""The platform-neutral heart of the bot: onboarding, profiles and /imagine.

Adapters call these methods with a `MemberRef` and render what comes back. Errors are raised as
`ViperError`s; `bot.messages.friendly` turns them into the sentence a member reads.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

from storage.store import JobRecord, Member, Profile, Store
from viper.contracts import jobs
from viper.contracts.config import Settings
from viper.contracts.errors import InvalidArgument, JobCancelled, ViperError
from storage.gallery import Gallery, GalleryImage
from bot.queue import JobQueue, Progress


# A feature typed by a member (/like, /dislike): a few words, as SDXL reads them in a prompt.
MAX_FEATURE_CHARS = 40
# The most features a member can bring a profile to by hand: a sanity bound on storage and on the
# review screens (the text encoders read the first 77 tokens of each list; the newest come first).
MAX_PROFILE_FEATURES = 100


@dataclass(frozen=True)
class MemberRef:
    """Who is talking to the bot: the platform ("telegram", "discord", "cli") and its user id."""

    platform: str
    user_id: str
    display_name: str = ""


@dataclass
class GalleryPage:
    page: int
    pages: int
    images: list[GalleryImage]
    first_number: int  # the 1-based number shown on the first image of the page


@dataclass
class OnboardingStatus:
    comments: int
    needed: int
    page: GalleryPage
    resumed: bool


@dataclass
class Submitted:
    """An /imagine that is recorded and queued."""

    job_id: str
    position: int | None
    workers_alive: bool
    personalised: bool
    request: jobs.GenerateRequest


@dataclass
class Update:
    """What a status message should say while a job waits or runs."""

    status: str  # queued | in_progress | ...
    position: int | None = None
    step: int | None = None
    total: int | None = None


UpdateCallback = Callable[[Update], Awaitable[None]]


@dataclass
class Delivery:
    result: jobs.GenerateResult
    caption: str
    notes: list[str] = field(default_factory=list)


class ViperBot:
    """The bot's behaviour, shared by every platform adapter and the CLI."""

    def __init__(self, settings: Settings, store: Store, queue: JobQueue, gallery: Gallery):
        self.settings = settings
        self.store = store
        self.queue = queue
        self.gallery = gallery

    # -- members ------------------------------------------------------------------------------

    async def member(self, who: MemberRef) -> Member:
        return await self.store.member(who.platform, who.user_id, who.display_name)

    @property
    def min_comments(self) -> int:
        return self.settings.bot.min_comments

    # -- onboarding ---------------------------------------------------------------------------

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

    async def _check_not_extracting(self, member: Member) -> None:
        """One onboarding at a time: while a member's profile is being built, they wait for it.

        A bot that died mid-extraction leaves the state behind; after the job timeout it no longer
        blocks the member.
        """
        state = await self.store.onboarding(member.id)
        if state is None or state.state != "extracting":
            return
        try:
            since = datetime.fromisoformat(state.updated_at).replace(tzinfo=timezone.utc)
        except ValueError:
            return
        if datetime.now(timezone.utc) - since < timedelta(seconds=self.settings.bot.job_timeout_s):
            raise InvalidArgument("your taste profile is being built right now; it will arrive in a moment", argument="onboarding")

    async def _active_member(self, who: MemberRef) -> Member:
        """The member, with their onboarding (re)activated at its saved page: commenting carries on
        a paused or finished onboarding, but never one whose profile is being built."""
        member = await self.member(who)
        await self._check_not_extracting(member)
        state = await self.store.onboarding(member.id)
        if state is None or state.state != "active":
            await self.store.set_onboarding(member.id, "active", state.page if state else 0)
        return member

    async def start_onboarding(self, who: MemberRef) -> OnboardingStatus:
        """Begin (or resume, keeping earlier comments) a member's onboarding at their saved page."""
        member = await self.member(who)
        await self._check_not_extracting(member)
        state = await self.store.onboarding(member.id)
        count = await self.store.comment_count(member.id)
        resumed = state is not None and state.state in ("active", "paused") and count > 0
        page = state.page if resumed else 0
        await self.store.set_onboarding(member.id, "active", page)
        return OnboardingStatus(count, self.min_comments, self.gallery_page(page), resumed)

    async def next_page(self, who: MemberRef) -> GalleryPage:
        member = await self.member(who)
        state = await self.store.onboarding(member.id)
        page = self.gallery_page((state.page if state else -1) + 1)
        await self.store.set_onboarding(member.id, "active", page.page)
        return page

    def check_comment(self, text: str | None) -> str:
        text = (text or "").strip()
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
        member = await self._active_member(who)
        count = await self.store.add_comment(member.id, image_id, text)
        await self.store.set_onboarding_position(member.id, clear_pending=True)
        return count

    async def check_can_comment(self, who: MemberRef) -> None:
        """Raise the friendly error `add_comment` would, before a platform opens a comment form."""
        member = await self.store.find_member(who.platform, who.user_id)
        if member is not None:
            await self._check_not_extracting(member)

    async def comments(self, who: MemberRef) -> dict[str, str]:
        """The member's comments by gallery image id (a stranger has none; nothing is created)."""
        member = await self.store.find_member(who.platform, who.user_id)
        if member is None:
            return {}
        return {c.image_id: c.text for c in await self.store.comments(member.id) if c.image_id}

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
        member = await self.store.find_member(who.platform, who.user_id)
        state = await self.store.onboarding(member.id) if member else None
        if state is None or state.state != "active" or not state.pending_image_id:
            return None
        return self.gallery.get(state.pending_image_id)

    async def save_position(self, who: MemberRef, index: int) -> None:
        """Remember which gallery image (0-based) a one-image-at-a-time pager shows."""
        member = await self.member(who)
        if await self.store.onboarding(member.id) is None:
            await self.store.set_onboarding(member.id, "active", 0)
        await self.store.set_onboarding_position(member.id, position=index % max(1, len(self.gallery)))

    async def position(self, who: MemberRef) -> int:
        member = await self.store.find_member(who.platform, who.user_id)
        state = await self.store.onboarding(member.id) if member else None
        return state.position if state else 0

    async def cancel_onboarding(self, who: MemberRef) -> int:
        """Pause onboarding; the comments are kept for a later /start. Returns how many there are."""
        member = await self.member(who)
        state = await self.store.onboarding(member.id)
        if state is not None and state.state == "active":
            await self.store.set_onboarding(member.id, "paused")
            await self.store.set_onboarding_position(member.id, clear_pending=True)
        return await self.store.comment_count(member.id)

    async def redo_onboarding(self, who: MemberRef) -> OnboardingStatus:
        """Start over: forget the member's comments (their profile stays until a new one is built)."""
        member = await self.member(who)
        await self._check_not_extracting(member)
        await self.store.clear_comments(member.id)
        await self.store.set_onboarding(member.id, "active", 0)
        await self.store.set_onboarding_position(member.id, position=0, clear_pending=True)
        return OnboardingStatus(0, self.min_comments, self.gallery_page(0), resumed=False)

    def comment_ack(self, count: int, done_hint: str = "Send /done") -> str:
        """The acknowledgement of a comment; `done_hint` is how this platform finishes ("Press Done")."""
        need = self.min_comments
        if count < need:
            return f"Noted! {count} of {need} comments."
        if count == need:
            return f"Noted! {count} of {need} comments: that's enough. {done_hint} to build your profile, or keep going for a sharper one."
        return f"Noted! {count} comments (more detail gives better personalisation). {done_hint} when ready."

    async def finish_onboarding(self, who: MemberRef, chat_ref: dict | None = None) -> Profile:
        """Extract the member's liked/disliked features from their comments and save the profile."""
        member = await self.member(who)
        await self._check_not_extracting(member)
        comments = await self.store.comments(member.id)
        if len(comments) < self.min_comments:
            raise InvalidArgument(
                f"you have {len(comments)} comment(s); at least {self.min_comments} are needed before /done",
                argument="comments",
            )
        request = jobs.ExtractRequest(
            member_id=member.id,
            backend=self.settings.extraction.backend,
            comments=[self._comment_payload(c.image_id, c.text) for c in comments],
        )
        job_id = await self._record_and_enqueue(
            member, "extract", who.platform, chat_ref or {}, "", jobs.EXTRACT_JOB, jobs.to_dict(request)
        )
        await self.store.set_onboarding(member.id, "extracting")
        try:
            raw = await self.queue.wait(job_id, timeout=self.settings.bot.job_timeout_s)
        except ViperError as e:
            await self.store.update_job(job_id, "failed", error=e.message)
            await self.store.set_onboarding(member.id, "active")
            raise
        result = jobs.from_dict(jobs.ExtractResult, raw)
        if await self.store.find_member(who.platform, who.user_id) is None:
            # The member ran /forget while their profile was being built: keep nothing.
            raise InvalidArgument("your data was deleted while the profile was being built", argument="profile")
        await self.store.save_profile(member.id, result.liked, result.disliked, result.backend, result.backend_version)
        await self.store.set_onboarding(member.id, "done")
        await self.store.update_job(job_id, "delivered")
        return await self.store.profile(member.id)

    def _comment_payload(self, image_id: str | None, text: str) -> jobs.Comment:
        image = self.gallery.get(image_id) if image_id else None
        return jobs.Comment(
            text=text, image_id=image_id,
            image_tags=list(image.tags) if image else [],
            image_path=str(image.path) if image else None,
        )

    async def profile(self, who: MemberRef) -> Profile | None:
        member = await self.store.find_member(who.platform, who.user_id)
        return await self.store.profile(member.id) if member else None

    async def remove_feature(self, who: MemberRef, feature: str) -> Profile:
        """Drop one feature from the member's liked or disliked list."""
        member = await self.store.find_member(who.platform, who.user_id)
        profile = await self.store.profile(member.id) if member else None
        if profile is None:
            raise InvalidArgument("you have no taste profile yet", argument="profile")
        if feature not in profile.liked and feature not in profile.disliked:
            raise InvalidArgument(f"“{feature}” is not in your profile", argument="feature")
        liked = [f for f in profile.liked if f != feature]
        disliked = [f for f in profile.disliked if f != feature]
        await self.store.save_profile(member.id, liked, disliked, profile.backend, profile.backend_version)
        return await self.store.profile(member.id)

    async def add_taste(self, who: MemberRef, text: str | None, *, liked: bool) -> tuple[Profile, list[str]]:
        """Add features the member names ("teal, flowing lines") to their liked or disliked list.

        A feature already on the other list moves over, so this also fixes a feature extraction read
        the wrong way. Works without onboarding (the profile starts here). Returns the profile and
        the features added, in the member's words (lower case, spaces tidied).
        """
        features = list(dict.fromkeys(
            " ".join(part.split()).lower() for part in re.split(r"[,;\n]+", text or "") if part.strip()
        ))
        if not features:
            raise InvalidArgument("name at least one feature, for example: teal, flowing lines", argument="features")
        long = [f for f in features if len(f) > MAX_FEATURE_CHARS]
        if long:
            raise InvalidArgument(
                f"“{long[0][:MAX_FEATURE_CHARS]}…” is too long for one feature (keep each under "
                f"{MAX_FEATURE_CHARS} characters, separated by commas)", argument="features",
            )
        member = await self.member(who)
        profile = await self.store.profile(member.id)
        target = list(profile.liked if liked else profile.disliked) if profile else []
        other = list(profile.disliked if liked else profile.liked) if profile else []
        other = [f for f in other if f not in features]
        target = features + [f for f in target if f not in features]  # the newest first: they weigh most
        if len(target) + len(other) > MAX_PROFILE_FEATURES:
            raise InvalidArgument(
                f"a profile holds at most {MAX_PROFILE_FEATURES} features; remove some first (/profile)",
                argument="features",
            )
        new_liked, new_disliked = (target, other) if liked else (other, target)
        backend = profile.backend if profile else "member"
        await self.store.save_profile(member.id, new_liked, new_disliked, backend, profile.backend_version if profile else "")
        return await self.store.profile(member.id), features

    async def forget(self, who: MemberRef) -> bool:
        """Delete everything stored about the member (profile, comments, progress, jobs).

        Adapters ask for confirmation first. Returns False when there was nothing to delete.
        """
        member = await self.store.find_member(who.platform, who.user_id)
        if member is None:
            return False
        await self.store.forget_member(member.id)
        return True

    async def comment_count(self, who: MemberRef) -> int:
        member = await self.store.find_member(who.platform, who.user_id)
        return await self.store.comment_count(member.id) if member else 0

    # -- imagine ------------------------------------------------------------------------------

    def check_prompt(self, prompt: str | None) -> str:
        prompt = " ".join((prompt or "").split())
        if not prompt:
            raise InvalidArgument("the prompt is empty", argument="prompt")
        limit = self.settings.bot.max_prompt_chars
        if len(prompt) > limit:
            raise InvalidArgument(f"the prompt is {len(prompt)} characters; the limit is {limit}", argument="prompt")
        return prompt

    async def submit_imagine(
        self, who: MemberRef, prompt: str | None, chat_ref: dict | None = None, *, seed: int | None = None
    ) -> Submitted:
        """Validate, record (before queueing, so a restart can resume delivery) and queue an /imagine."""
        prompt = self.check_prompt(prompt)
        member = await self.member(who)
        busy = [j for j in await self.store.undelivered_jobs(who.platform) if j.member_id == member.id and j.kind == "generate" and j.status == "queued"]
        if len(busy) >= self.settings.bot.max_queued_per_member:
            raise InvalidArgument(
                f"you already have {len(busy)} images on the way; wait for one to arrive first", argument="queue"
            )
        profile = await self.store.profile(member.id)
        if profile is None and self.settings.bot.require_profile:
            raise InvalidArgument("you have no taste profile yet", argument="profile")
        request = jobs.GenerateRequest(
            prompt=prompt,
            liked=profile.liked if profile else [],
            disliked=profile.disliked if profile else [],
            seed=seed if seed is not None else secrets.randbelow(2**31),
        )
        job_id = await self._record_and_enqueue(
            member, "generate", who.platform, chat_ref or {}, prompt, jobs.GENERATE_JOB, jobs.to_dict(request)
        )
        return Submitted(
            job_id=job_id,
            position=await self.queue.position(job_id),
            workers_alive=await self.queue.workers_alive(),
            personalised=bool(profile and (profile.liked or profile.disliked)),
            request=request,
        )

    async def _record_and_enqueue(
        self, member: Member, kind: str, platform: str, chat_ref: dict, prompt: str, function: str, payload: dict
    ) -> str:
        job_id = f"{kind}-{member.id}-{int(time.time() * 1000)}-{secrets.token_hex(3)}"
        await self.store.record_job(JobRecord(job_id, member.id, kind, platform, chat_ref, prompt, "queued"))
        try:
            await self.queue.enqueue(function, payload, job_id=job_id)
        except ViperError as e:
            await self.store.update_job(job_id, "failed", error=e.message)
            raise
        return job_id

    async def follow(self, job_id: str, on_update: UpdateCallback | None = None) -> Delivery:
        """Wait for a generation job, reporting queue position and steps; returns what to post."""

        async def relay(status: str, progress: Progress | None, position: int | None) -> None:
            if on_update is not None:
                # arq keeps a running job in its queue until it ends: that is no place in line.
                place = position if status == "queued" else None
                step, total = (progress.step, progress.total) if progress else (None, None)
                await on_update(Update(status, place, step, total))

        try:
            raw = await self.queue.wait(
                job_id, timeout=self.settings.bot.job_timeout_s, on_update=relay,
                update_interval=self.settings.bot.progress_interval_s,
            )
        except JobCancelled as e:
            await self.store.update_job(job_id, "cancelled", error=e.message)
            raise
        except ViperError as e:
            await self.store.update_job(job_id, "failed", error=e.message)
            raise
        await self.store.update_job(job_id, "done")
        result = jobs.from_dict(jobs.GenerateResult, raw)
        record = await self.store.job(job_id)
        return Delivery(result, self.caption(record.prompt if record else "", result), self.result_notes(result))

    async def cancel_image(self, who: MemberRef, job_id: str) -> bool:
        """Stop one of the member's own /imagine jobs: dropped if still queued, stopped at the next step
        if running. False when it has already ended (the image is on its way or failed). Whoever follows
        the job then sees it end with JobCancelled."""
        record = await self.store.job(job_id)
        member = await self.store.find_member(who.platform, who.user_id)
        if record is None or member is None or record.member_id != member.id or record.kind != "generate":
            raise InvalidArgument("that image isn't one of yours", argument="job")
        if record.status != "queued":
            return False
        await self.queue.cancel(job_id)
        return True

    async def delivered(self, job_id: str) -> None:
        await self.store.update_job(job_id, "delivered")

    async def set_chat_ref(self, job_id: str, chat_ref: dict) -> None:
        """Remember where a job's status message lives (so a restarted bot can edit it); the keys
        given replace those stored, the others are kept."""
        record = await self.store.job(job_id)
        if record is not None:
            await self.store.update_job(job_id, record.status, chat_ref={**record.chat_ref, **chat_ref})

    async def pending_deliveries(self, platform: str) -> list[JobRecord]:
        """Generation jobs of `platform` whose images never reached the member (resume after restart)."""
        return [j for j in await self.store.undelivered_jobs(platform) if j.kind == "generate"]

    def caption(self, prompt: str, result: jobs.GenerateResult) -> str:
        how = "personalised with your taste profile" if (result.liked_used or result.disliked_used) else "not personalised"
        return f"“{prompt}” ({how}, seed {result.seed}, {result.width}×{result.height}, {result.steps} steps)"

    def result_notes(self, result: jobs.GenerateResult) -> list[str]:
        notes = []
        if result.is_tiny:
            notes.append(
                "Made with the tiny test model (random weights): it shows noise, not a real picture. "
                "Set [engine] model to SDXL on a GPU worker for real images."
            )
        if result.prompt_truncated:
            notes.append("Your prompt was longer than SDXL reads (77 tokens); the end was cut.")
        return notes
